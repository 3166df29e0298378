// SPDX-License-Identifier: Apache-2.0
package io.jaio.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * fio as a {@link FileReadBench} row: a subprocess started from the same harness run, same file,
 * same block size and depth, {@code ioengine=io_uring} or {@code libaio}, one job, random offsets without a random
 * map, {@code invalidate=0} (keep the page cache), a 0.5 s ramp and then the row's duration. The
 * IOPS come from fio's JSON ({@code jobs[0].read.iops}). The benchmark thread waits for the
 * process meanwhile.
 */
final class FioReadRow implements FileReadBench.Row {
    private static final Pattern READ_IOPS = Pattern.compile("\"read\"\\s*:\\s*\\{.*?\"iops\"\\s*:\\s*([0-9.eE+]+)",
            Pattern.DOTALL);
    private static final Pattern READ_IOS = Pattern.compile("\"read\"\\s*:\\s*\\{.*?\"total_ios\"\\s*:\\s*([0-9]+)",
            Pattern.DOTALL);

    private final Path path;
    private final long sizeBytes;
    private final String fio;
    /** fio's --ioengine: "io_uring" or "libaio". */
    private final String ioengine;

    FioReadRow(Path path, long sizeBytes, String fio, String ioengine) {
        this.path = path;
        this.sizeBytes = sizeBytes;
        this.fio = fio;
        this.ioengine = ioengine;
    }

    @Override
    public String name() {
        return "fio " + ioengine;
    }

    /** The fio command of one row (printed once so the run can be reproduced by hand). */
    List<String> command(boolean direct, int qd, long durationNs) {
        List<String> cmd = new ArrayList<>();
        cmd.add(fio);
        cmd.add("--name=randread");
        cmd.add("--filename=" + path);
        cmd.add("--size=" + sizeBytes);
        cmd.add("--rw=randread");
        cmd.add("--bs=4k");
        cmd.add("--ioengine=" + ioengine);
        cmd.add("--iodepth=" + qd);
        cmd.add("--direct=" + (direct ? 1 : 0));
        cmd.add("--numjobs=1");
        cmd.add("--norandommap");
        cmd.add("--invalidate=0");
        cmd.add("--time_based");
        cmd.add("--ramp_time=500ms");
        cmd.add("--runtime=" + TimeUnit.NANOSECONDS.toMillis(durationNs) + "ms");
        cmd.add("--output-format=json");
        return cmd;
    }

    @Override
    public FileReadBench.Result run(boolean direct, int qd, long durationNs, long seed) throws IOException,
            InterruptedException {
        Process p = new ProcessBuilder(command(direct, qd, durationNs)).redirectErrorStream(false).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("fio failed (exit " + (p.isAlive() ? "-" : p.exitValue()) + "): "
                    + new String(err, StandardCharsets.UTF_8));
        }
        String json = new String(out, StandardCharsets.UTF_8);
        Matcher m = READ_IOPS.matcher(json);
        Matcher ios = READ_IOS.matcher(json);
        if (!m.find() || !ios.find()) {
            throw new IOException("no read iops in fio output: " + json.substring(0, Math.min(400, json.length())));
        }
        double iops = Double.parseDouble(m.group(1));
        long total = Long.parseLong(ios.group(1));
        // elapsed as fio's own iops implies it, so that ops / elapsed = fio's figure
        return new FileReadBench.Result(total, (long) (total / iops * 1e9), Double.NaN, Double.NaN);
    }
}
