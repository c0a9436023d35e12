"""The metrics forwarder: vLLM's Prometheus histograms as CloudWatch percentiles.

Neither the CloudWatch agent (it drops Prometheus histograms) nor ADOT's EMF exporter (only
count, sum, min and max for classic histograms) turns a vLLM histogram into percentiles in
CloudWatch (docs/monitoring.md). The forwarder does: every interval it scrapes each server pod,
takes the increase of every bucket since the last scrape, and puts it as Values and Counts, from
which CloudWatch computes p50, p90 and p99 itself. It also counts ready servers and Trn2 nodes.
"""
