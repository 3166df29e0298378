// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Loading --object tls-creds-x509 directories: the PEM key formats certtool and openssl write,
 * and one clear line for each thing that can be wrong with the files or the options.
 */
class TlsCredentialsTest {
    private static Path dir;
    private static TlsTestCerts certs;

    @BeforeAll
    static void certificates() throws Exception {
        dir = NbdTestSupport.diskScratchDir("tls-creds");
        certs = TlsTestCerts.make(dir.resolve("pki"));
    }

    @AfterAll
    static void cleanUp() throws Exception {
        NbdTestSupport.deleteTree(dir);
    }

    /** A key written by {@code cmd} (its output file is {@code key.pem} in a fresh directory) is read. */
    private static String loadKey(String name, String... cmd) throws Exception {
        Path d = Files.createDirectories(dir.resolve("keys").resolve(name));
        Path key = d.resolve("key.pem");
        List<String> c = new java.util.ArrayList<>();
        for (String a : cmd) {
            c.add(a.replace("KEY", key.toString()));
        }
        NbdTestSupport.run(c).expectSuccess(c);
        var k = TlsCredentials.privateKey("test", key);
        assertNotNull(k);
        String pem = Files.readString(key);
        return k.getAlgorithm() + " from " + pem.substring(pem.indexOf("-----BEGIN"), pem.indexOf("-----", pem.indexOf("-----BEGIN") + 5) + 5);
    }

    @Test
    void readsThePemKeysCerttoolAndOpensslWrite() throws Exception {
        NbdTestSupport.assumeTool("openssl", "openssl");
        assertEquals("RSA from -----BEGIN RSA PRIVATE KEY-----", loadKey("certtool-rsa", "certtool", "--generate-privkey",
                "--bits", "2048", "--outfile", "KEY"));
        assertEquals("EC from -----BEGIN EC PRIVATE KEY-----", loadKey("certtool-ec", "certtool", "--generate-privkey",
                "--key-type", "ecdsa", "--outfile", "KEY"));
        assertEquals("RSA from -----BEGIN PRIVATE KEY-----", loadKey("openssl-rsa", "openssl", "genpkey", "-algorithm", "RSA",
                "-pkeyopt", "rsa_keygen_bits:2048", "-out", "KEY"));
        assertEquals("RSA from -----BEGIN RSA PRIVATE KEY-----", loadKey("openssl-rsa-traditional", "openssl", "genrsa",
                "-traditional", "-out", "KEY", "2048"));
        assertEquals("EC from -----BEGIN EC PARAMETERS-----", loadKey("openssl-ec-sec1", "openssl", "ecparam", "-name",
                "secp384r1", "-genkey", "-out", "KEY"));
        assertEquals("EC from -----BEGIN PRIVATE KEY-----", loadKey("openssl-ec", "openssl", "genpkey", "-algorithm", "EC",
                "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "KEY"));
        assertEquals("EdDSA from -----BEGIN PRIVATE KEY-----", loadKey("openssl-ed25519", "openssl", "genpkey",
                "-algorithm", "ed25519", "-out", "KEY"));
    }

    @Test
    void refusesWhatCannotWork() throws Exception {
        Path keys = Files.createDirectories(dir.resolve("bad-keys"));
        Path enc = keys.resolve("enc.pem");
        NbdTestSupport.runOk("certtool", "--generate-privkey", "--key-type", "ecdsa", "--pkcs8", "--password", "secret",
                "--outfile", enc.toString());
        // certtool --pkcs8 encrypts even with --null-password: refused, as QEMU refuses it without passwordid=
        var e = assertThrows(ServeOptions.UsageException.class, () -> TlsCredentials.privateKey("--object x", enc));
        assertTrue(e.getMessage().contains("encrypted key"), e.getMessage());
        Path cert = Files.writeString(keys.resolve("cert-as-key.pem"), Files.readString(certs.serverDir.resolve("server-cert.pem")));
        e = assertThrows(ServeOptions.UsageException.class, () -> TlsCredentials.privateKey("--object x", cert));
        assertEquals("--object x: " + cert + " holds no private key (expected a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY"
                + " or EC PRIVATE KEY block)", e.getMessage());
        Path junk = Files.writeString(keys.resolve("junk.pem"), "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
        e = assertThrows(ServeOptions.UsageException.class, () -> TlsCredentials.certificates("--object x", junk));
        assertTrue(e.getMessage().startsWith("--object x: " + junk + " is not a PEM certificate"), e.getMessage());
    }

    /** What {@code jaio nbd serve ARGS} prints on stderr, and its exit status (1 expected). */
    private static String serveFails(String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        int status;
        try {
            String[] full = new String[args.length + 1];
            full[0] = "serve";
            System.arraycopy(args, 0, full, 1, args.length);
            status = NbdMain.run(full);
        } finally {
            System.setErr(old);
        }
        String out = err.toString().strip();
        assertEquals(1, status, "exit status; stderr: " + out);
        assertEquals(1, out.lines().count(), "one line: " + out);
        return out;
    }

    private static Path credsDir(String name, String... files) throws Exception {
        Path d = Files.createDirectories(dir.resolve("dirs").resolve(name));
        for (String f : files) {
            Files.copy(certs.serverDir.resolve(f), d.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return d;
    }

    @Test
    void startUpErrorsAreOneLineEach() throws Exception {
        Path image = NbdTestSupport.sparseImage(dir.resolve("img"), 1 << 20);
        String obj = "tls-creds-x509,id=tls0,endpoint=server,dir=";
        Path missing = credsDir("missing-key", "ca-cert.pem", "server-cert.pem");
        assertEquals("jaio nbd serve: --object tls-creds-x509,id=tls0: " + missing.resolve("server-key.pem")
                + " does not exist (expected ca-cert.pem, server-cert.pem and server-key.pem in dir=" + missing
                + ", as QEMU expects)", serveFails("--object", obj + missing, "--tls-creds", "tls0", image.toString()));
        Path noCa = credsDir("missing-ca", "server-cert.pem", "server-key.pem");
        assertTrue(serveFails("--object", obj + noCa, "--tls-creds", "tls0", image.toString())
                .contains(noCa.resolve("ca-cert.pem") + " does not exist"));
        Path mismatch = credsDir("mismatch", "ca-cert.pem", "server-cert.pem");
        Files.copy(certs.clientDir.resolve("client-key.pem"), mismatch.resolve("server-key.pem"));
        String m = serveFails("--object", obj + mismatch, "--tls-creds", "tls0", image.toString());
        assertTrue(m.contains("server-key.pem does not match the certificate in " + mismatch.resolve("server-cert.pem")), m);
        Path unreadable = credsDir("unreadable", "ca-cert.pem", "server-cert.pem", "server-key.pem");
        if (unreadable.resolve("server-key.pem").toFile().setReadable(false) && !Files.isReadable(unreadable.resolve("server-key.pem"))) {
            assertTrue(serveFails("--object", obj + unreadable, "--tls-creds", "tls0", image.toString())
                    .endsWith("server-key.pem: permission denied (expected a file this user may read)"));
        }
        assertEquals("jaio nbd serve: --object tls-creds-x509,id=tls0: dir=/nonexistent is not a directory (expected a"
                + " directory holding ca-cert.pem, server-cert.pem and server-key.pem)",
                serveFails("--object", obj + "/nonexistent", "--tls-creds", "tls0", image.toString()));
    }

    @Test
    void optionErrorsNameWhatWasExpected() {
        String dirOpt = "dir=" + certs.serverDir;
        assertEquals("jaio nbd serve: --object tls-creds-x509,id=tls0: endpoint=client (the default) (expected endpoint=server:"
                + " these credentials serve)", serveFails("--object", "tls-creds-x509,id=tls0," + dirOpt, "--tls-creds", "tls0"));
        assertEquals("jaio nbd serve: --tls-creds tls1: no --object tls-creds-x509,id=tls1 (expected the id of a"
                + " tls-creds-x509 object)", serveFails("--object", "tls-creds-x509,id=tls0,endpoint=server," + dirOpt,
                        "--tls-creds", "tls1"));
        assertEquals("jaio nbd serve: --object secret,id=s0,data=x: object type secret is not supported (expected"
                + " tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off] or authz-simple,id=ID,identity=DN)",
                serveFails("--object", "secret,id=s0,data=x"));
        assertEquals("jaio nbd serve: --object tls-creds-x509,id=t,endpoint=server,dir=/x,priority=NORMAL: priority= is not"
                + " supported (expected id, dir, endpoint and verify-peer)",
                serveFails("--object", "tls-creds-x509,id=t,endpoint=server,dir=/x,priority=NORMAL"));
        assertEquals("jaio nbd serve: --tls-authz a0 with verify-peer=off (expected verify-peer=on: the identity is read from"
                + " the client's certificate)", serveFails("--object", "tls-creds-x509,id=tls0,endpoint=server,verify-peer=off,"
                        + dirOpt, "--object", "authz-simple,id=a0,identity=CN=x", "--tls-creds", "tls0", "--tls-authz", "a0"));
        assertEquals("jaio nbd serve: --tls-authz a0 without --tls-creds (expected TLS to be on)",
                serveFails("--object", "authz-simple,id=a0,identity=CN=x", "--tls-authz", "a0"));
        assertEquals("jaio nbd serve: --object tls-creds-x509,id=t,endpoint=server,dir=/x,verify-peer=maybe: verify-peer=maybe"
                + " (expected on or off)", serveFails("--object", "tls-creds-x509,id=t,endpoint=server,dir=/x,verify-peer=maybe"));
        assertEquals("jaio nbd serve: --object authz-simple,id=a0: identity=nonsense (expected a"
                + " distinguished name like CN=client.example.com,O=Example: improperly specified input name: nonsense)",
                serveFails("--object", "tls-creds-x509,id=tls0,endpoint=server," + dirOpt, "--object",
                        "authz-simple,id=a0,identity=nonsense", "--tls-creds", "tls0", "--tls-authz", "a0"));
    }

    @Test
    void objectValuesSplitLikeQemu() throws Exception {
        var o = ServeOptions.parse(new String[] {"--object", "authz-simple,id=a0,identity=CN=x,,O=Example,, Inc", "--object",
            "tls-creds-x509,id=t,dir=/d,endpoint=server", "--tls-creds=t", "--tls-authz=a0"});
        assertEquals("CN=x,O=Example, Inc", o.tlsIdentity);
        assertEquals("/d", o.tlsDir);
        assertTrue(o.tlsVerifyPeer, "verify-peer defaults to on, as in QEMU");
        assertTrue(ServeOptions.USAGE.contains("--tls-creds=ID"));
        assertTrue(ServeOptions.USAGE.contains("--handshake-limit=N"));
    }
}
