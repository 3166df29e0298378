// SPDX-License-Identifier: Apache-2.0
package io.jaio.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.FieldModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.attribute.ModuleAttribute;
import java.lang.classfile.attribute.ModuleExportInfo;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.lang.reflect.AccessFlag;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.jaio.AioContext;

/**
 * The package structure of jaio-core, read from the compiled classes with the JDK's
 * {@code java.lang.classfile} API: the layers (the loop, then io_uring submission, the block
 * layer, coroutines) only depend downwards, packages form no cycles, and no exported package shows
 * a type of an unexported one in a public or protected signature. See docs/architecture.md.
 */
class LayeringTest {
    /**
     * Each package of jaio-core and its layer; a package may depend on its own layer and lower
     * ones. The loop is io.jaio with the internal packages that serve it: API and machinery name
     * each other (the machinery throws io.jaio.ErrnoException, the API holds BhNode), so within
     * that layer, and only there, packages may form a cycle.
     */
    static final Map<String, Integer> LAYERS = Map.ofEntries(
            Map.entry("io.jaio", 0),
            Map.entry("io.jaio.internal.loop", 0),
            Map.entry("io.jaio.internal.fdmon", 0),
            Map.entry("io.jaio.internal.sys", 0),
            Map.entry("io.jaio.internal.uring", 0),
            Map.entry("io.jaio.internal.aio", 0),
            Map.entry("io.jaio.internal.jfr", 0),
            Map.entry("io.jaio.uring", 1),
            Map.entry("io.jaio.block", 2),
            Map.entry("io.jaio.coroutine", 3),
            Map.entry("io.jaio.internal.coro", 3));
    static final int LOOP = 0;
    private static final Pattern DESCRIPTOR_TYPE = Pattern.compile("L(io/jaio/[\\w/$]+)[;<]");

    private static Path classes;
    private static final List<ClassModel> MODELS = new ArrayList<>();

    @BeforeAll
    static void readClasses() throws IOException, URISyntaxException {
        classes = Path.of(AioContext.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        try (Stream<Path> s = Files.walk(classes)) {
            for (Path p : s.filter(f -> f.toString().endsWith(".class")).toList()) {
                MODELS.add(ClassFile.of().parse(p));
            }
        }
        assertTrue(MODELS.size() > 50, "found only " + MODELS.size() + " classes under " + classes);
    }

    private static String packageOf(String internalName) {
        int i = internalName.lastIndexOf('/');
        return i < 0 ? "" : internalName.substring(0, i).replace('/', '.');
    }

    private static String packageOf(ClassModel c) {
        return packageOf(c.thisClass().asInternalName());
    }

    /** Every io.jaio type a class names: class entries and the types inside descriptors and signatures. */
    private static Set<String> referencedTypes(ClassModel c) {
        Set<String> out = new TreeSet<>();
        for (PoolEntry e : c.constantPool()) {
            if (e instanceof ClassEntry ce) {
                String n = ce.asInternalName();
                while (n.startsWith("[")) {
                    n = n.substring(1);
                }
                if (n.startsWith("L") && n.endsWith(";")) {
                    n = n.substring(1, n.length() - 1);
                }
                if (n.startsWith("io/jaio/")) {
                    out.add(n);
                }
            } else if (e instanceof Utf8Entry u) {
                Matcher m = DESCRIPTOR_TYPE.matcher(u.stringValue());
                while (m.find()) {
                    out.add(m.group(1));
                }
            }
        }
        return out;
    }

    /** package -> packages it depends on, with one example edge each, for the messages. */
    private static Map<String, Map<String, String>> packageGraph() {
        Map<String, Map<String, String>> g = new TreeMap<>();
        for (ClassModel c : MODELS) {
            String from = packageOf(c);
            if (from.isEmpty()) {
                continue; // module-info
            }
            Map<String, String> deps = g.computeIfAbsent(from, k -> new TreeMap<>());
            for (String t : referencedTypes(c)) {
                String to = packageOf(t);
                if (!to.equals(from)) {
                    deps.putIfAbsent(to, c.thisClass().asInternalName() + " -> " + t);
                }
            }
        }
        return g;
    }

    @Test
    void everyPackageHasALayerAndAPackageInfo() {
        List<String> problems = new ArrayList<>();
        Set<String> packages = new TreeSet<>();
        Set<String> withInfo = new TreeSet<>();
        for (ClassModel c : MODELS) {
            String p = packageOf(c);
            if (p.isEmpty()) {
                continue;
            }
            packages.add(p);
            if (c.thisClass().asInternalName().endsWith("/package-info")) {
                withInfo.add(p);
            }
        }
        for (String p : packages) {
            if (!LAYERS.containsKey(p)) {
                problems.add(p + " has no layer in LayeringTest.LAYERS");
            }
            if (!withInfo.contains(p)) {
                problems.add(p + " has no package-info.java");
            }
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void packagesDependOnlyOnTheirOwnOrLowerLayers() {
        List<String> problems = new ArrayList<>();
        packageGraph().forEach((from, deps) -> deps.forEach((to, example) -> {
            Integer lf = LAYERS.get(from);
            Integer lt = LAYERS.get(to);
            if (lf != null && lt != null && lt > lf) {
                problems.add(from + " (layer " + lf + ") depends on " + to + " (layer " + lt + "): " + example);
            }
        }));
        assertEquals(List.of(), problems);
    }

    @Test
    void packagesFormNoCycleOutsideTheLoop() {
        Map<String, Map<String, String>> g = packageGraph();
        List<String> problems = new ArrayList<>();
        for (Set<String> scc : stronglyConnected(g)) {
            if (scc.size() < 2) {
                continue;
            }
            boolean loopOnly = scc.stream().allMatch(p -> LAYERS.get(p) != null && LAYERS.get(p) == LOOP);
            if (!loopOnly) {
                StringBuilder why = new StringBuilder("cycle among " + scc + ":");
                for (String a : scc) {
                    for (String b : scc) {
                        String e = g.getOrDefault(a, Map.of()).get(b);
                        if (e != null) {
                            why.append(" [").append(e).append(']');
                        }
                    }
                }
                problems.add(why.toString());
            }
        }
        assertEquals(List.of(), problems);
    }

    /** Tarjan's algorithm over the package graph. */
    private static List<Set<String>> stronglyConnected(Map<String, Map<String, String>> g) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        List<String> stack = new ArrayList<>();
        Set<String> onStack = new TreeSet<>();
        List<Set<String>> out = new ArrayList<>();
        int[] next = {0};
        for (String v : g.keySet()) {
            if (!index.containsKey(v)) {
                strongConnect(v, g, index, low, stack, onStack, out, next);
            }
        }
        return out;
    }

    private static void strongConnect(String v, Map<String, Map<String, String>> g, Map<String, Integer> index,
            Map<String, Integer> low, List<String> stack, Set<String> onStack, List<Set<String>> out, int[] next) {
        index.put(v, next[0]);
        low.put(v, next[0]);
        next[0]++;
        stack.add(v);
        onStack.add(v);
        for (String w : g.getOrDefault(v, Map.of()).keySet()) {
            if (!g.containsKey(w)) {
                continue; // outside jaio-core
            }
            if (!index.containsKey(w)) {
                strongConnect(w, g, index, low, stack, onStack, out, next);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> scc = new TreeSet<>();
            String w;
            do {
                w = stack.remove(stack.size() - 1);
                onStack.remove(w);
                scc.add(w);
            } while (!w.equals(v));
            out.add(scc);
        }
    }

    private static Set<String> exportedPackages() throws IOException {
        ClassModel mi = ClassFile.of().parse(classes.resolve("module-info.class"));
        ModuleAttribute m = mi.findAttribute(Attributes.module()).orElseThrow();
        Set<String> out = new TreeSet<>();
        for (ModuleExportInfo e : m.exports()) {
            if (e.exportsTo().isEmpty()) {
                out.add(e.exportedPackage().name().stringValue().replace('/', '.'));
            }
        }
        return out;
    }

    @Test
    void theExportedPackagesAreTheFourLayersOfTheApi() throws IOException {
        assertEquals(Set.of("io.jaio", "io.jaio.uring", "io.jaio.block", "io.jaio.coroutine"), exportedPackages());
    }

    @Test
    void exportedSignaturesNameNoUnexportedType() throws IOException {
        Set<String> exported = exportedPackages();
        Map<String, ClassModel> byName = new HashMap<>();
        for (ClassModel c : MODELS) {
            byName.put(c.thisClass().asInternalName(), c);
        }
        List<String> problems = new ArrayList<>();
        for (ClassModel c : MODELS) {
            if (!exported.contains(packageOf(c)) || !isVisible(c, byName)) {
                continue;
            }
            String self = c.thisClass().asInternalName();
            List<String> supers = new ArrayList<>();
            c.superclass().ifPresent(s -> supers.add("L" + s.asInternalName() + ";"));
            c.interfaces().forEach(i -> supers.add("L" + i.asInternalName() + ";"));
            c.findAttribute(Attributes.signature()).ifPresent(s -> supers.add(s.signature().stringValue()));
            for (String s : supers) {
                check(self + " supertype", s, exported, problems);
            }
            for (FieldModel f : c.fields()) {
                if (f.flags().has(AccessFlag.PUBLIC) || f.flags().has(AccessFlag.PROTECTED)) {
                    String where = self + "." + f.fieldName().stringValue();
                    check(where, f.fieldType().stringValue(), exported, problems);
                    f.findAttribute(Attributes.signature()).ifPresent(s -> check(where, s.signature().stringValue(), exported, problems));
                }
            }
            for (MethodModel m : c.methods()) {
                if (!(m.flags().has(AccessFlag.PUBLIC) || m.flags().has(AccessFlag.PROTECTED)) || m.flags().has(AccessFlag.SYNTHETIC)) {
                    continue;
                }
                String where = self + "." + m.methodName().stringValue() + m.methodType().stringValue();
                check(where, m.methodType().stringValue(), exported, problems);
                m.findAttribute(Attributes.signature()).ifPresent(s -> check(where, s.signature().stringValue(), exported, problems));
                m.findAttribute(Attributes.exceptions()).ifPresent(ex -> ex.exceptions()
                        .forEach(e -> check(where + " throws", "L" + e.asInternalName() + ";", exported, problems)));
            }
        }
        assertEquals(List.of(), problems);
    }

    /** Public, and (for a nested class) public or protected inside a visible class. */
    private static boolean isVisible(ClassModel c, Map<String, ClassModel> byName) {
        String name = c.thisClass().asInternalName();
        if (name.endsWith("/package-info") || name.equals("module-info")) {
            return false;
        }
        var inner = c.findAttribute(Attributes.innerClasses());
        if (inner.isPresent()) {
            for (var ic : inner.get().classes()) {
                if (ic.innerClass().asInternalName().equals(name) && ic.outerClass().isPresent()) {
                    Set<AccessFlag> f = ic.flags();
                    if (!f.contains(AccessFlag.PUBLIC) && !f.contains(AccessFlag.PROTECTED)) {
                        return false;
                    }
                    ClassModel outer = byName.get(ic.outerClass().get().asInternalName());
                    return outer != null && isVisible(outer, byName);
                }
                if (ic.innerClass().asInternalName().equals(name)) {
                    return false; // local or anonymous
                }
            }
        }
        return c.flags().has(AccessFlag.PUBLIC);
    }

    private static void check(String where, String descriptor, Set<String> exported, List<String> problems) {
        Matcher m = DESCRIPTOR_TYPE.matcher(descriptor);
        while (m.find()) {
            String p = packageOf(m.group(1));
            if (p.startsWith("io.jaio") && !exported.contains(p)) {
                problems.add(where + " names " + m.group(1).replace('/', '.') + " of unexported " + p);
            }
        }
    }
}
