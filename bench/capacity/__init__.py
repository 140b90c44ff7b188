"""The capacity simulation behind `make bench-capacity` (bench/capacity_bench.py runs it).

One day of traffic over one in-cluster vLLM tier and a remote API, three ways: a static pool
sized for the peak, a static pool sized for the mean, and TierGate's autoscaling (KEDA scaling
the tier down to zero, the gateway waking it and routing around it while it is cold). The
routing and scaling code is TierGate's own, run on virtual time; only the world around it is
modelled here:

- `workload`: the day's arrivals (a diurnal curve with bursts) and the requests (the demo's);
- `cluster`: the tier's Deployment and pods (vLLM's scheduler from `tiergate sim`, cold starts,
  GPU time), the remote API, and Prometheus;
- `transport`: the gateway's `Transport` to those pods and that API;
- `scenario`: one scenario wired up and run, and what it measured.
"""
