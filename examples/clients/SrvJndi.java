// SPDX-License-Identifier: MIT
// SrvJndi.java -- SRV lookup with Java's JNDI DNS provider, as a JVM service would do it.
// Owns:   an InitialDirContext on com.sun.jndi.dns.DnsContextFactory with the provider
//         URL dns://SERVER:PORT/ (not /etc/resolv.conf), the "SRV" attribute of NAME,
//         then the "A" and "AAAA" attributes of every target.
// Usage:  javac SrvJndi.java && java SrvJndi SERVER PORT [NAME]
//         (NAME: _data._tcp.service.local)
// Output: one line per SRV record, "TARGET PORT ADDRESS", sorted; TARGET has no
//         final dot; ADDRESS is "-" when the target has no A/AAAA record, and a
//         target with several addresses gets one line per address.
// Exit:   0 records printed; 1 lookup failed or no SRV record; 2 usage.

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Hashtable;
import java.util.List;
import javax.naming.Context;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;

public final class SrvJndi {
    private SrvJndi() {}

    /** Every value of one attribute (record type) of name; empty for NODATA. */
    static List<String> values(DirContext ctx, String name, String type) throws NamingException {
        List<String> out = new ArrayList<>();
        Attributes attrs = ctx.getAttributes(name, new String[] {type});
        Attribute a = attrs.get(type);
        if (a == null) {
            return out;
        }
        NamingEnumeration<?> e = a.getAll();
        while (e.hasMore()) {
            out.add(e.next().toString());
        }
        return out;
    }

    /** RFC 5952 text of an address literal: JNDI writes AAAA as fd00:0:0:0:0:0:0:12. */
    static String canonical(String literal) throws java.net.UnknownHostException {
        byte[] b = InetAddress.getByName(literal).getAddress(); // a literal: no lookup
        if (b.length == 4) {
            return literal;
        }
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        }
        int bestAt = -1, bestLen = 1; // only runs of two or more groups are squashed
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestAt = i;
                bestLen = j - i;
            }
            i = j > i ? j : i + 1;
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestAt) {
                s.append("::");
                i += bestLen - 1;
                continue;
            }
            if (s.length() > 0 && s.charAt(s.length() - 1) != ':') {
                s.append(':');
            }
            s.append(Integer.toHexString(g[i]));
        }
        return s.toString();
    }

    static String stripDot(String n) {
        return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
    }

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: java SrvJndi SERVER PORT [NAME]");
            System.exit(2);
        }
        String server = args[0].contains(":") ? "[" + args[0] + "]" : args[0];
        String name = args.length == 3 ? args[2] : "_data._tcp.service.local";

        Hashtable<String, String> env = new Hashtable<>();
        env.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.dns.DnsContextFactory");
        env.put(Context.PROVIDER_URL, "dns://" + server + ":" + args[1] + "/");
        env.put("com.sun.jndi.dns.timeout.initial", "2000");
        env.put("com.sun.jndi.dns.timeout.retries", "2");

        List<String> lines = new ArrayList<>();
        try {
            DirContext ctx = new InitialDirContext(env);
            // Each SRV value is "priority weight port target." (RFC 2782 order).
            for (String v : values(ctx, name, "SRV")) {
                String[] f = v.trim().split("\\s+");
                String target = stripDot(f[3]);
                List<String> addrs = new ArrayList<>();
                for (String type : new String[] {"A", "AAAA"}) {
                    for (String a : values(ctx, target, type)) {
                        addrs.add(canonical(a));
                    }
                }
                if (addrs.isEmpty()) {
                    addrs.add("-");
                }
                for (String a : addrs) {
                    lines.add(target + " " + f[2] + " " + a);
                }
            }
            ctx.close();
        } catch (NamingException | java.net.UnknownHostException e) {
            System.err.println("SrvJndi: " + name + " SRV: " + e);
            System.exit(1);
        }
        if (lines.isEmpty()) {
            System.err.println("SrvJndi: " + name + " SRV: no records");
            System.exit(1);
        }
        Collections.sort(lines); // UTF-16 order: strcmp order for these ASCII lines
        for (String l : lines) {
            System.out.println(l);
        }
    }
}
