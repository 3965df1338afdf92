// A Java client as most are written: new Socket(host, port), no options set, a blocking read.
//   java JavaClient idle   connect, then wait for the server to say something
//   java JavaClient busy   connect, send one request 3 s later, wait for the answer
import java.io.InputStream;
import java.net.Socket;

public class JavaClient {
  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "idle";
    try (Socket s = new Socket(System.getenv("DEADPEER_HOST"), Integer.parseInt(System.getenv("DEADPEER_PORT")))) {
      System.out.println("connected from " + s.getLocalSocketAddress());
      if (mode.equals("busy")) {
        Thread.sleep(3000);
        s.getOutputStream().write("GET /answer\n".getBytes());
        s.getOutputStream().flush();
      }
      InputStream in = s.getInputStream();
      int n = in.read(new byte[4096]);
      System.out.println(n < 0 ? "socket closed by the server" : "received " + n + " bytes");
    } catch (java.io.IOException e) {
      System.out.println("error: " + e);
      System.exit(1);
    }
  }
}
