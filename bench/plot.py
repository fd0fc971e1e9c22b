#!/usr/bin/python3
"""Draw the PNG plots of docs/benchmarks.md from the JSON figures in bench/results/.

Usage: bench/plot.py            (needs gnuplot; Debian package gnuplot-nox)
Each results file that exists gets its plot in docs/img/; missing ones are skipped.
"""

import json
import os
import subprocess
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
IMAGE_DIR = os.path.join(os.path.dirname(BENCH_DIR), "docs", "img")


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def plot_grpc(results, out_path):
    """Latency percentiles and server CPU per call for each client count."""
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as data:
        for run in results["runs"]:
            data.write(f"\"{run['clients']} client(s)\" {run['p50_us']} {run['p99_us']} "
                       f"{run['server_cpu_us_per_call']}\n")
    gnuplot(f"""
set terminal pngcairo size 900,450 font "sans,10"
set output "{out_path}"
set title "hostcri unary Version calls from grpc-go ({results['machine']})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "microseconds"
set logscale y
set yrange [1:*]
set grid ytics
set key top left
plot "{data.name}" using 2:xtic(1) title "p50 latency", \\
     "" using 3 title "p99 latency", \\
     "" using 4 title "server CPU per call"
""")
    os.unlink(data.name)


def plot_runtime(results, out_path):
    """Latency percentiles of each runtime call, and the start latency of each container."""
    containers = results["containers"]
    listed = results["list_containers"]["containers"]
    memory = results["monitor_memory"]
    rows = [
        ("RunPodSandbox", results["start"]["run_pod"]),
        ("CreateContainer", results["start"]["create"]),
        ("StartContainer", results["start"]["start"]),
        ("start until running", results["start"]["running"]),
        ("StopContainer", results["stop"]["stop"]),
        ("RemoveContainer", results["stop"]["remove"]),
        ("StopPodSandbox", results["stop"]["stop_pod"]),
        ("RemovePodSandbox", results["stop"]["remove_pod"]),
        ("ExecSync true", results["exec_true"]),
        (f"ListContainerStats ({containers})", results["list_container_stats"]),
        (f"ListContainers ({containers})", results["list_containers_running"]),
        (f"ListContainers ({listed})", results["list_containers"]["all"]),
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as bars, \
            tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as starts:
        for label, figures in rows:
            bars.write(f"\"{label}\" {figures['p50_ms']} {figures['p99_ms']}\n")
        for index, milliseconds in enumerate(results["start"]["running_ms_each"]):
            starts.write(f"{index} {milliseconds}\n")
    gnuplot(f"""
set terminal pngcairo size 1000,800 font "sans,10"
set output "{out_path}"
set multiplot layout 2,1 title "hostcri runtime calls, one grpcio client ({results['machine']})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "milliseconds"
set logscale y
set yrange [0.1:*]
set grid ytics
set key top left
set xtics rotate by 25 right scale 0
set bmargin 6
set label 1 "monitor VmRSS: median {memory['rss_median_kib']} KiB, max {memory['rss_max_kib']} KiB (target 1 MB)" at graph 0.45, graph 0.93
set title "latency per call (start targets: 10 ms p50; ListContainers with {listed}: 2 ms)"
plot "{bars.name}" using 2:xtic(1) title "p50", "" using 3 title "p99", \\
     10 with lines dashtype 2 lc rgb "black" title "10 ms", \\
     2 with lines dashtype 3 lc rgb "black" title "2 ms"
unset logscale y
unset label 1
unset style
set style data points
set xtics norotate
set bmargin
set xlabel "container (in start order)"
set yrange [0:*]
set title "RunPodSandbox + CreateContainer + StartContainer until the container's marker is read"
plot "{starts.name}" using 1:2 with points pt 7 ps 0.5 title "each container", \\
     10 with lines dashtype 2 lc rgb "black" title "target p50"
unset multiplot
""")
    os.unlink(bars.name)
    os.unlink(starts.name)


def plot_pull(results, out_path):
    """Median cold pull time per tool, in one panel per image with the registry transports side
    by side. The error bars run from the fastest to the slowest repetition. The label over the
    skopeo bar is the ratio of the medians (skopeo copy + umoci unpack, divided by hostcri)."""
    panels = []
    for image, sizes in results["images"].items():
        top = 0
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as data:
            for run in results["runs"]:
                if run["image"] != image:
                    continue
                s = run["summary"]
                data.write(f"\"{run['transport']}\"")
                for key in ("hostcri_s", "skopeo_umoci_s", "skopeo_umoci_raw_s"):
                    data.write(f" {s[key]['median']} {s[key]['min']} {s[key]['max']}")
                    top = max(top, s[key]["max"])
                data.write(f" {s['ratio_of_medians']}\n")
        panels.append((image, sizes, data.name, top * 1.15))
    script = f"""
set terminal pngcairo size 1000,500 font "sans,10"
set output "{out_path}"
set multiplot layout 1,{len(panels)} title "Cold image pull from a loopback registry, median of \\
{results['repetitions']} ({results['machine']})"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set ylabel "seconds"
set grid ytics
set key outside bottom center horizontal
"""
    for image, sizes, path, top in panels:
        script += f"""
set yrange [0:{top}]
set title "{image}: {sizes['layers']} layers, {sizes['blob_bytes'] / 1e6:.1f} MB of blobs"
plot "{path}" using 2:3:4:xtic(1) title "hostcri PullImage", \\
     "" using 5:6:7 title "skopeo copy + umoci unpack", \\
     "" using 8:9:10 title "skopeo copy + umoci raw unpack", \\
     "" using 0:7:(sprintf("%.1fx", $11)) with labels offset 0,0.8 notitle
"""
    gnuplot(script + "unset multiplot\n")
    for _, _, path, _ in panels:
        os.unlink(path)


PLOTS = {
    "grpc.json": ("grpc.png", plot_grpc),
    "runtime.json": ("runtime.png", plot_runtime),
    "pull.json": ("pull.png", plot_pull),
}


def main():
    os.makedirs(IMAGE_DIR, exist_ok=True)
    for results_name, (image_name, plot) in PLOTS.items():
        path = os.path.join(RESULTS_DIR, results_name)
        if not os.path.exists(path):
            print(f"skipped {results_name}: no results yet")
            continue
        with open(path) as f:
            plot(json.load(f), os.path.join(IMAGE_DIR, image_name))
        print(f"wrote docs/img/{image_name}")


if __name__ == "__main__":
    main()
