// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import javax.security.auth.x500.X500Principal;

/**
 * The server's TLS credentials, loaded the way QEMU's {@code tls-creds-x509} object loads them:
 * a directory holding {@code ca-cert.pem} (the CA that client certificates must chain to),
 * {@code server-cert.pem} (the server's certificate, optionally followed by intermediates) and
 * {@code server-key.pem} (its private key). PEM is read here with {@code java.security} only:
 * certificates through {@link CertificateFactory}; keys as PKCS#8 ({@code BEGIN PRIVATE KEY}),
 * PKCS#1 ({@code BEGIN RSA PRIVATE KEY}) or SEC 1 ({@code BEGIN EC PRIVATE KEY}), the last two
 * wrapped into PKCS#8 by a few lines of DER. Encrypted keys are refused with a message saying so.
 *
 * <p>Every failure is one {@link ServeOptions.UsageException} naming the file and what was
 * expected. Immutable after {@link #load}; {@link #newEngine()} from any thread.
 */
final class TlsCredentials {
    static final String CA_CERT = "ca-cert.pem";
    static final String SERVER_CERT = "server-cert.pem";
    static final String SERVER_KEY = "server-key.pem";
    /** TLS 1.3 only: what QEMU negotiates with a current gnutls, and no renegotiation to think about. */
    private static final String[] PROTOCOLS = {"TLSv1.3"};

    private final SSLContext context;
    final boolean verifyPeer;
    /** Client DNs allowed (--tls-authz), canonical; null: any client the CA vouches for. */
    private final Set<X500Principal> allowed;
    final String describe;

    private TlsCredentials(SSLContext context, boolean verifyPeer, Set<X500Principal> allowed, String describe) {
        this.context = context;
        this.verifyPeer = verifyPeer;
        this.allowed = allowed;
        this.describe = describe;
    }

    /**
     * Loads the credentials of {@code dir}. {@code what} names the object in messages
     * ("--object tls-creds-x509,id=tls0"); {@code allowed} is the --tls-authz identity list or null.
     */
    static TlsCredentials load(String what, Path dir, boolean verifyPeer, Set<X500Principal> allowed)
            throws ServeOptions.UsageException {
        if (!Files.isDirectory(dir)) {
            throw new ServeOptions.UsageException(what + ": dir=" + dir + " is not a directory (expected a directory holding "
                    + CA_CERT + ", " + SERVER_CERT + " and " + SERVER_KEY + ")");
        }
        List<X509Certificate> ca = certificates(what, dir.resolve(CA_CERT));
        List<X509Certificate> chain = certificates(what, dir.resolve(SERVER_CERT));
        PrivateKey key = privateKey(what, dir.resolve(SERVER_KEY));
        checkKeyMatches(what, dir, chain.get(0), key);
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] pass = new char[0];
            ks.setKeyEntry("server", key, pass, chain.toArray(X509Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pass);
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            for (int i = 0; i < ca.size(); i++) {
                ts.setCertificateEntry("ca" + i, ca.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), new SecureRandom());
            String d = "TLS 1.3, certificate " + chain.get(0).getSubjectX500Principal().getName() + ", "
                    + (verifyPeer ? "client certificates checked against " + dir.resolve(CA_CERT) : "no client certificate asked")
                    + (allowed != null ? ", " + allowed.size() + " client identit" + (allowed.size() == 1 ? "y" : "ies") + " allowed" : "");
            return new TlsCredentials(ctx, verifyPeer, allowed, d);
        } catch (GeneralSecurityException | IOException e) {
            throw new ServeOptions.UsageException(what + ": cannot set up TLS with the files of " + dir + ": " + e.getMessage()
                    + " (expected a certificate and key JSSE accepts: RSA, EC or EdDSA)");
        }
    }

    /** The credentials the options name (--tls-creds, --tls-authz), loaded; null without --tls-creds. */
    static TlsCredentials fromOptions(ServeOptions o) throws ServeOptions.UsageException {
        if (o.tlsCredsId == null) {
            return null;
        }
        Set<X500Principal> allowed = o.tlsIdentity == null ? null : Set.of(identity(o.tlsAuthzTyped, o.tlsIdentity));
        return load(o.tlsObjectTyped, Path.of(o.tlsDir), o.tlsVerifyPeer, allowed);
    }

    /** A server-side engine for one connection: TLS 1.3, client certificate required when verify-peer is on. */
    SSLEngine newEngine() {
        SSLEngine e = context.createSSLEngine();
        e.setUseClientMode(false);
        SSLParameters p = e.getSSLParameters();
        p.setProtocols(PROTOCOLS);
        p.setNeedClientAuth(verifyPeer);
        e.setSSLParameters(p);
        return e;
    }

    /**
     * Null when the peer may go on; otherwise why not. Called once the TLS handshake finished:
     * with --tls-authz the client's certificate subject must be one of the identities.
     */
    String refusal(SSLEngine engine) {
        if (allowed == null) {
            return null;
        }
        X500Principal peer;
        try {
            peer = (X500Principal) engine.getSession().getPeerPrincipal();
        } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            return "no client certificate (--tls-authz needs one)";
        }
        if (allowed.contains(peer)) {
            return null;
        }
        return "client certificate " + peer.getName() + " is not allowed by --tls-authz";
    }

    /** An identity of an authz-simple object as an X.500 name (RFC 4514, as QEMU and gnutls print DNs). */
    static X500Principal identity(String what, String dn) throws ServeOptions.UsageException {
        try {
            return new X500Principal(dn);
        } catch (IllegalArgumentException e) {
            throw new ServeOptions.UsageException(what + ": identity=" + dn + " (expected a distinguished name like"
                    + " CN=client.example.com,O=Example: " + e.getMessage() + ")");
        }
    }

    // ---- PEM ----

    private static byte[] read(String what, Path file) throws ServeOptions.UsageException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ServeOptions.UsageException(what + ": " + file + " does not exist (expected " + CA_CERT + ", "
                    + SERVER_CERT + " and " + SERVER_KEY + " in dir=" + file.getParent() + ", as QEMU expects)");
        } catch (AccessDeniedException e) {
            throw new ServeOptions.UsageException(what + ": " + file + ": permission denied (expected a file this user may read)");
        } catch (IOException e) {
            throw new ServeOptions.UsageException(what + ": cannot read " + file + ": " + NbdMain.describe(e)
                    + " (expected a readable PEM file)");
        }
    }

    static List<X509Certificate> certificates(String what, Path file) throws ServeOptions.UsageException {
        byte[] pem = read(what, file);
        List<X509Certificate> out = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (var c : cf.generateCertificates(new ByteArrayInputStream(pem))) {
                out.add((X509Certificate) c);
            }
        } catch (CertificateException e) {
            throw new ServeOptions.UsageException(what + ": " + file + " is not a PEM certificate: " + e.getMessage()
                    + " (expected -----BEGIN CERTIFICATE----- blocks)");
        }
        if (out.isEmpty()) {
            throw new ServeOptions.UsageException(what + ": " + file + " holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)");
        }
        return out;
    }

    static PrivateKey privateKey(String what, Path file) throws ServeOptions.UsageException {
        String text = new String(read(what, file), StandardCharsets.US_ASCII);
        String[] kinds = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"};
        for (String kind : kinds) {
            byte[] der = pemBlock(text, kind);
            if (der == null) {
                continue;
            }
            try {
                return switch (kind) {
                    case "PRIVATE KEY" -> pkcs8(der);
                    case "RSA PRIVATE KEY" -> pkcs8(Der.rsaPkcs1ToPkcs8(der));
                    case "EC PRIVATE KEY" -> pkcs8(Der.sec1ToPkcs8(der));
                    default -> throw new ServeOptions.UsageException(what + ": " + file + " is an encrypted key (expected an"
                            + " unencrypted key, as QEMU's tls-creds-x509 without passwordid reads it)");
                };
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                throw new ServeOptions.UsageException(what + ": " + file + ": the " + kind + " block cannot be read: "
                        + e.getMessage() + " (expected an RSA, EC or EdDSA key)");
            }
        }
        throw new ServeOptions.UsageException(what + ": " + file + " holds no private key (expected a -----BEGIN PRIVATE KEY-----,"
                + " RSA PRIVATE KEY or EC PRIVATE KEY block)");
    }

    /** The DER bytes of the first {@code -----BEGIN kind-----} block, or null. */
    private static byte[] pemBlock(String text, String kind) {
        String begin = "-----BEGIN " + kind + "-----";
        int b = text.indexOf(begin);
        if (b < 0) {
            return null;
        }
        int e = text.indexOf("-----END " + kind + "-----", b);
        if (e < 0) {
            throw new IllegalArgumentException("no END line");
        }
        String body = text.substring(b + begin.length(), e);
        if (body.contains(":")) { // Proc-Type / DEK-Info headers: an OpenSSL-encrypted legacy key
            return null;
        }
        return Base64.getMimeDecoder().decode(body);
    }

    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        GeneralSecurityException last = null;
        for (String alg : new String[] {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw last;
    }

    /** Signs a challenge with the key and verifies it with the certificate: a mismatched pair is refused at start-up. */
    private static void checkKeyMatches(String what, Path dir, X509Certificate cert, PrivateKey key)
            throws ServeOptions.UsageException {
        String alg = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> key.getAlgorithm(); // Ed25519, Ed448
        };
        try {
            byte[] challenge = "jaio-nbd key check".getBytes(StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(challenge);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(cert.getPublicKey());
            v.update(challenge);
            if (v.verify(sig)) {
                return;
            }
        } catch (GeneralSecurityException e) {
            // a key of another type than the certificate's: a mismatch too
        }
        throw new ServeOptions.UsageException(what + ": " + dir.resolve(SERVER_KEY) + " does not match the certificate in "
                + dir.resolve(SERVER_CERT) + " (expected the private key of " + cert.getSubjectX500Principal().getName() + ")");
    }

    /** Just enough DER to wrap PKCS#1 and SEC 1 keys into PKCS#8 (RFC 5208, RFC 5915, RFC 8017). */
    static final class Der {
        private static final byte[] OID_RSA = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};
        private static final byte[] OID_EC_PUBLIC_KEY = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};
        private static final byte[] NULL = {0x05, 0x00};
        private static final byte[] VERSION_0 = {0x02, 0x01, 0x00};

        private Der() {
        }

        /** PrivateKeyInfo { 0, { rsaEncryption, NULL }, OCTET STRING pkcs1 }. */
        static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
            return tlv(0x30, VERSION_0, tlv(0x30, OID_RSA, NULL), tlv(0x04, pkcs1));
        }

        /**
         * PrivateKeyInfo { 0, { id-ecPublicKey, namedCurve }, OCTET STRING ecPrivateKey }, the
         * curve taken from the SEC 1 structure's [0] parameters.
         */
        static byte[] sec1ToPkcs8(byte[] sec1) {
            int[] seq = header(sec1, 0, 0x30);
            int p = seq[0];
            int end = p + seq[1];
            byte[] curve = null;
            while (p < end) {
                int tag = sec1[p] & 0xff;
                int[] h = header(sec1, p, tag);
                if (tag == 0xa0) {
                    int[] oid = header(sec1, h[0], 0x06);
                    curve = java.util.Arrays.copyOfRange(sec1, h[0], oid[0] + oid[1]);
                }
                p = h[0] + h[1];
            }
            if (curve == null) {
                throw new IllegalArgumentException("EC key without its curve parameters");
            }
            return tlv(0x30, VERSION_0, tlv(0x30, OID_EC_PUBLIC_KEY, curve), tlv(0x04, sec1));
        }

        /** {content start, content length} of the element at {@code p}, which must carry {@code tag}. */
        private static int[] header(byte[] b, int p, int tag) {
            if (p + 2 > b.length || (b[p] & 0xff) != tag) {
                throw new IllegalArgumentException("DER: expected tag 0x" + Integer.toHexString(tag) + " at " + p);
            }
            int len = b[p + 1] & 0xff;
            int q = p + 2;
            if (len >= 0x80) {
                int n = len & 0x7f;
                if (n == 0 || n > 3 || q + n > b.length) {
                    throw new IllegalArgumentException("DER: bad length at " + p);
                }
                len = 0;
                for (int i = 0; i < n; i++) {
                    len = (len << 8) | (b[q++] & 0xff);
                }
            }
            if (len > b.length - q) {
                throw new IllegalArgumentException("DER: element at " + p + " runs past the end");
            }
            return new int[] {q, len};
        }

        private static byte[] tlv(int tag, byte[]... parts) {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            for (byte[] part : parts) {
                body.writeBytes(part);
            }
            int n = body.size();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(tag);
            if (n < 0x80) {
                out.write(n);
            } else if (n < 0x100) {
                out.write(0x81);
                out.write(n);
            } else if (n < 0x10000) {
                out.write(0x82);
                out.write(n >> 8);
                out.write(n);
            } else {
                out.write(0x83);
                out.write(n >> 16);
                out.write(n >> 8);
                out.write(n);
            }
            out.writeBytes(body.toByteArray());
            return out.toByteArray();
        }
    }
}
