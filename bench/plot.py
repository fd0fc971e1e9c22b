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


PLOTS = {
    "grpc.json": ("grpc.png", plot_grpc),
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
