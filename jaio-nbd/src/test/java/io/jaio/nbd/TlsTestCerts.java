// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Certificates for the TLS tests, made with {@code certtool} (gnutls-bin) in a scratch directory:
 * a CA, a server certificate for localhost / 127.0.0.1 / ::1 (RSA key), client certificates (EC
 * keys, see {@code leaf}), and a second,
 * unrelated CA with a client of its own. The directories are laid out as QEMU and libnbd read
 * them: {@link #serverDir} (ca-cert.pem, server-cert.pem, server-key.pem), {@link #clientDir}
 * (ca-cert.pem, client-cert.pem, client-key.pem), and variants for the refusal tests.
 *
 * <p>Also a JSSE client ({@link #connectTls}) for the tests that must send exact bytes after
 * the TLS handshake. Threading: one test thread.
 */
final class TlsTestCerts {
    /** Subject of {@link #clientDir}'s certificate, as gnutls prints it. */
    static final String CLIENT_DN = "CN=client.example.com,O=jaio,C=GB";
    static final String OTHER_CLIENT_DN = "CN=other.example.com,O=jaio,C=GB";

    final Path root;
    final Path serverDir;
    /** ca-cert.pem of the CA plus a client certificate it signed (CLIENT_DN). */
    final Path clientDir;
    /** Another client of the same CA (OTHER_CLIENT_DN). */
    final Path otherClientDir;
    /** ca-cert.pem only: a client without a certificate. */
    final Path noCertDir;
    /** A client whose certificate comes from an unrelated CA (which it also trusts instead of ours). */
    final Path wrongCaDir;
    /** Our client certificate, but trusting the unrelated CA: the client refuses the server. */
    final Path wrongTrustDir;

    private TlsTestCerts(Path root) {
        this.root = root;
        this.serverDir = root.resolve("server");
        this.clientDir = root.resolve("client");
        this.otherClientDir = root.resolve("other-client");
        this.noCertDir = root.resolve("no-cert");
        this.wrongCaDir = root.resolve("wrong-ca");
        this.wrongTrustDir = root.resolve("wrong-trust");
    }

    /** Makes everything under {@code root} (skips the test when certtool is missing). */
    static TlsTestCerts make(Path root) throws Exception {
        NbdTestSupport.assumeTool("certtool", "gnutls-bin");
        TlsTestCerts c = new TlsTestCerts(root);
        Path work = Files.createDirectories(root.resolve("work"));
        for (Path d : List.of(c.serverDir, c.clientDir, c.otherClientDir, c.noCertDir, c.wrongCaDir, c.wrongTrustDir)) {
            Files.createDirectories(d);
        }
        ca(work, "ca", "jaio test CA");
        ca(work, "ca2", "unrelated CA");
        leaf(work, "ca", "server", "organization = jaio\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\n"
                + "ip_address = ::1\ntls_www_server\n");
        leaf(work, "ca", "client", "country = GB\norganization = jaio\ncn = client.example.com\ntls_www_client\n");
        leaf(work, "ca", "other", "country = GB\norganization = jaio\ncn = other.example.com\ntls_www_client\n");
        leaf(work, "ca2", "stranger", "country = GB\norganization = jaio\ncn = client.example.com\ntls_www_client\n");
        copy(work, "ca-cert.pem", c.serverDir, "ca-cert.pem");
        copy(work, "server-cert.pem", c.serverDir, "server-cert.pem");
        copy(work, "server-key.pem", c.serverDir, "server-key.pem");
        client(work, c.clientDir, "ca", "client");
        client(work, c.otherClientDir, "ca", "other");
        copy(work, "ca-cert.pem", c.noCertDir, "ca-cert.pem");
        client(work, c.wrongCaDir, "ca2", "stranger");
        client(work, c.wrongTrustDir, "ca2", "client");
        return c;
    }

    private static void client(Path work, Path dir, String ca, String who) throws IOException {
        copy(work, ca + "-cert.pem", dir, "ca-cert.pem");
        copy(work, who + "-cert.pem", dir, "client-cert.pem");
        copy(work, who + "-key.pem", dir, "client-key.pem");
    }

    private static void copy(Path work, String from, Path dir, String to) throws IOException {
        Files.copy(work.resolve(from), dir.resolve(to), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static void ca(Path work, String name, String cn) throws Exception {
        key(work, name);
        Path tmpl = Files.writeString(work.resolve(name + ".info"), "cn = " + cn + "\nca\ncert_signing_key\nexpiration_days = 30\n");
        certtool("--generate-self-signed", "--load-privkey", work.resolve(name + "-key.pem").toString(), "--template",
                tmpl.toString(), "--outfile", work.resolve(name + "-cert.pem").toString());
    }

    private static void leaf(Path work, String ca, String name, String template) throws Exception {
        // Client keys are EC: a gnutls 3.7 client (libnbd, qemu) sends no RSA certificate to a
        // TLS 1.3 server whose CertificateRequest lists no rsa_pkcs1 scheme, and JSSE lists none
        // there (docs/nbd.md, "TLS"). The server key stays RSA (PKCS#1 PEM from certtool).
        if (template.contains("tls_www_client")) {
            certtool("--generate-privkey", "--key-type", "ecdsa", "--outfile", work.resolve(name + "-key.pem").toString());
        } else {
            key(work, name);
        }
        Path tmpl = Files.writeString(work.resolve(name + ".info"), template + "encryption_key\nsigning_key\nexpiration_days = 30\n");
        certtool("--generate-certificate", "--load-ca-certificate", work.resolve(ca + "-cert.pem").toString(),
                "--load-ca-privkey", work.resolve(ca + "-key.pem").toString(), "--load-privkey",
                work.resolve(name + "-key.pem").toString(), "--template", tmpl.toString(), "--outfile",
                work.resolve(name + "-cert.pem").toString());
    }

    private static void key(Path work, String name) throws Exception {
        certtool("--generate-privkey", "--outfile", work.resolve(name + "-key.pem").toString());
    }

    private static void certtool(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("certtool"));
        cmd.addAll(List.of(args));
        NbdTestSupport.run(cmd).expectSuccess(cmd);
    }

    /** The server's options for these certificates: {@code --object ... --tls-creds tls0}. */
    List<String> serverOptions(boolean verifyPeer) {
        return List.of("--object", "tls-creds-x509,id=tls0,dir=" + serverDir + ",endpoint=server,verify-peer="
                + (verifyPeer ? "on" : "off"), "--tls-creds", "tls0");
    }

    /** A JSSE context for a client directory laid out as libnbd reads it (no client key: no certificate). */
    static SSLContext clientContext(Path dir) throws Exception {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        int i = 0;
        for (X509Certificate ca : TlsCredentials.certificates("test", dir.resolve("ca-cert.pem"))) {
            ts.setCertificateEntry("ca" + i++, ca);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        KeyManagerFactory kmf = null;
        if (Files.exists(dir.resolve("client-key.pem"))) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            PrivateKey key = TlsCredentials.privateKey("test", dir.resolve("client-key.pem"));
            ks.setKeyEntry("client", key, new char[0],
                    TlsCredentials.certificates("test", dir.resolve("client-cert.pem")).toArray(X509Certificate[]::new));
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, new char[0]);
        }
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    /**
     * A blocking socket to the server: greeting read, client flags sent, STARTTLS acknowledged,
     * nothing else. The caller goes on in clear text (hostile bytes) or layers TLS on it.
     */
    static Socket startTls(int port) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout((int) RawClient.TIMEOUT_MS);
        s.setTcpNoDelay(true);
        DataInputStream in = new DataInputStream(s.getInputStream());
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        assertEquals(Nbd.NBDMAGIC, in.readLong());
        assertEquals(Nbd.IHAVEOPT, in.readLong());
        in.readShort();
        out.writeInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
        out.write(RawClient.optionBytes(Nbd.OPT_STARTTLS, new byte[0]));
        out.flush();
        assertEquals(Nbd.OPTION_REPLY_MAGIC, in.readLong());
        assertEquals(Nbd.OPT_STARTTLS, in.readInt());
        assertEquals(Nbd.REP_ACK, in.readInt(), "STARTTLS reply");
        assertEquals(0, in.readInt());
        return s;
    }

    /** {@link #startTls} then a TLS 1.3 handshake as the client of {@code dir}. */
    static SSLSocket connectTls(int port, Path dir) throws Exception {
        Socket raw = startTls(port);
        SSLSocket s = (SSLSocket) clientContext(dir).getSocketFactory().createSocket(raw, "localhost", port, true);
        s.setUseClientMode(true);
        s.startHandshake();
        return s;
    }
}
