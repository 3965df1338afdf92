/** The two ends of the wire: the client (the socket under test, usually) and the server. */
export type Side = 'client' | 'server';
