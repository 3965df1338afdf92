module deadpeer.example/go-client

go 1.19
