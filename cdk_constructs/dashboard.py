"""The environment's CloudWatch dashboard and alarms, and the SNS topic the alarms notify.

Built with cdk-monitoring-constructs (cdklabs): it lays out sections, names alarms after the
stack and wires their actions. The metric names come from the forwarder's catalog, the benchmark
and Container Insights; which ones a variant has depends on its engine (specdec/vllm_metrics.py).
docs/monitoring.md explains every panel and alarm.
"""

from __future__ import annotations

import cdk_monitoring_constructs as mc
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from specdec import names
from specdec.bench import metrics as bench_metrics
from specdec.config import Environment
from specdec.forwarder import catalog
from specdec.variants import Variant
from specdec.vllm_metrics import engine_of

MINUTE = Duration.minutes(1)
ALARM_PERIOD = Duration.minutes(5)
# The benchmark puts one datum per suite and variant per run; its alarms keep their state between runs.
BENCHMARK_PERIOD = Duration.hours(1)
GT = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cw.ComparisonOperator.LESS_THAN_THRESHOLD


class ServingDashboard(Construct):
    def __init__(self, scope: Construct, id: str, *, environment: Environment, file_system_id: str) -> None:
        super().__init__(scope, id)
        self.environment = environment
        self.topic = self._topic()
        self.facade = mc.MonitoringFacade(
            self, "Facade",
            dashboard_factory=mc.DefaultDashboardFactory(
                self, "Dashboards", dashboard_name_prefix=environment.stack_name,
                create_dashboard=True, create_summary_dashboard=False, create_alarm_dashboard=False,
                detail_dashboard_range=Duration.hours(24)),
            alarm_factory_defaults=mc.AlarmFactoryDefaults(
                actions_enabled=True, alarm_name_prefix=environment.stack_name,
                action=mc.SnsAlarmActionStrategy(on_alarm_topic=self.topic)),
        )
        self.variants = environment.serving.resolved_variants()
        self.baseline = next((v for v in self.variants if not v.speculative), None)
        for variant in self.variants:
            self._serving_section(variant)
            if variant.speculative:
                self._speculation_section(variant)
        self._accelerator_section()
        self._model_cache_section(file_system_id)

    @property
    def dashboard_name(self) -> str:
        return self.environment.stack_name

    def _topic(self) -> sns.Topic:
        # CloudWatch can publish to an encrypted topic only through a customer managed key whose
        # policy lets it use the key (CloudWatch User Guide, "Alarm actions": encrypted SNS topics).
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
                      description=f"{self.environment.stack_name} alarm topic")
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"]))
        topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True,
                          display_name=f"{self.environment.stack_name} alarms")
        # A topic policy replaces SNS's default one: without this statement alarms change state but
        # notify no one ("not authorized to perform: SNS:Publish"; AWS re:Post,
        # knowledge-center/cloudwatch-receive-sns-for-alarm-trigger).
        stack = Stack.of(self)
        topic.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                                                     f"{stack.account}:alarm:*"}}))
        if self.environment.monitoring.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.environment.monitoring.alarm_email))
        return topic

    # Metrics ---------------------------------------------------------------------------------------

    def _server(self, name: str, variant: str, statistic: str, label: str,
                period: Duration = MINUTE) -> cw.Metric:
        return cw.Metric(namespace=names.BENCHMARK_METRICS_NAMESPACE, metric_name=name,
                         dimensions_map={"Environment": self.environment.name, "Variant": variant},
                         statistic=statistic, label=label, period=period)

    def _benchmark(self, name: str, variant: str, suite: str, label: str) -> cw.Metric:
        return cw.Metric(namespace=names.BENCHMARK_METRICS_NAMESPACE, metric_name=name,
                         dimensions_map={"Environment": self.environment.name, "Variant": variant,
                                         "Suite": suite},
                         statistic="Average", label=label, period=BENCHMARK_PERIOD)

    def _node_search(self, metric: str, statistic: str) -> cw.MathExpression:
        """One line per Trn2 node: Container Insights names nodes, which synth cannot know. The
        schema in braces keeps to the per-node series (dimensions ClusterName, InstanceId, NodeName)."""
        schema = f"{{{names.CONTAINER_INSIGHTS_NAMESPACE},ClusterName,InstanceId,NodeName}}"
        query = f'{schema} ClusterName="{self.environment.stack_name}" MetricName="{metric}"'
        return cw.MathExpression(expression=f"SEARCH('{query}', '{statistic}', 60)", label="",
                                 period=MINUTE, using_metrics={})

    # Sections --------------------------------------------------------------------------------------

    def _serving_section(self, server: Variant) -> None:
        variant = server.name
        per_step = engine_of(server).token_latency_is_per_step(server.speculative)
        latency = catalog.DECODE_STEP_TIME if per_step else catalog.INTER_TOKEN_LATENCY
        title = ("Decode step time (ms; one observation per step of up to k+1 tokens)" if per_step
                 else "Inter-token latency per output token (ms)")
        percentiles = [self._server(latency, variant, p, p) for p in ("p50", "p90", "p99")]
        if not per_step:
            percentiles[1] = self._alarmed(
                percentiles[1], "ITL", self.environment.monitoring.itl_p90_ms, GT,
                f"p90 inter-token latency of vllm-{variant} above the bound (ms)", period=ALARM_PERIOD,
                missing=cw.TreatMissingData.NOT_BREACHING)
        tokens = self._server(catalog.GENERATED_TOKENS, variant, "Sum", "tokens")
        ready = self._alarmed(
            self._server(catalog.READY_SERVERS, variant, "Minimum", "ready pods"), "Ready",
            self.environment.serving.replicas, LT,
            f"fewer ready vllm-{variant} pods than serving.replicas (also while a deploy compiles)",
            period=ALARM_PERIOD, missing=cw.TreatMissingData.BREACHING)
        groups = [
            mc.CustomMetricGroup(title=title, metrics=percentiles),
            mc.CustomMetricGroup(title="Time to first token (ms)", metrics=[
                self._server(catalog.TIME_TO_FIRST_TOKEN, variant, p, p) for p in ("p50", "p90")]),
            mc.CustomMetricGroup(title="End-to-end request latency (s)", metrics=[
                self._server(catalog.END_TO_END_LATENCY, variant, p, p) for p in ("p50", "p90")]),
            mc.CustomMetricGroup(title="Generated tokens per second", metrics=[cw.MathExpression(
                expression="tokens / PERIOD(tokens)", using_metrics={"tokens": tokens},
                label="tokens/s", period=MINUTE)]),
            mc.CustomMetricGroup(title="Requests running and waiting", metrics=[
                self._server(catalog.REQUESTS_RUNNING, variant, "Average", "running"),
                self._server(catalog.REQUESTS_WAITING, variant, "Average", "waiting")]),
            mc.CustomMetricGroup(title="Ready server pods", metrics=[ready]),
            self._benchmark_latency_group(variant, per_step),
        ]
        self.facade.monitor_custom(human_readable_name=f"Serving: vllm-{variant} ({server.engine})",
                                   alarm_friendly_name=variant, metric_groups=groups)

    def _speculation_section(self, server: Variant) -> None:
        variant, suites = server.name, self.environment.benchmark.suites
        monitoring = self.environment.monitoring
        groups = []
        if engine_of(server).reports_speculation:
            counts = {key: self._server(name, variant, "Sum", key, ALARM_PERIOD) for key, name in (
                ("accepted", catalog.ACCEPTED_TOKENS), ("drafted", catalog.DRAFT_TOKENS),
                ("drafts", catalog.DRAFTS))}
            rate = cw.MathExpression(expression="accepted / drafted", using_metrics=counts,
                                     label="acceptance rate (server)", period=ALARM_PERIOD)
            groups.append(mc.CustomMetricGroup(title="Acceptance rate (server counters)", metrics=[
                self._alarmed(rate, "Acceptance", monitoring.min_acceptance_rate, LT,
                              "share of draft tokens accepted below the bound", period=ALARM_PERIOD,
                              missing=cw.TreatMissingData.NOT_BREACHING)]))
            groups.append(mc.CustomMetricGroup(title="Mean tokens per step (server counters)", metrics=[
                cw.MathExpression(expression="1 + accepted / drafts", using_metrics=counts,
                                  label="1 + accepted per draft", period=ALARM_PERIOD)]))
        else:
            groups.append(mc.CustomMetricGroup(
                title="Mean tokens per step (benchmark; this image reports no acceptance)", metrics=[
                    self._benchmark(bench_metrics.MEAN_ACCEPTED_TOKENS, variant, s, f"accepted, {s}")
                    for s in suites] + [
                    self._benchmark("TokensPerStep", variant, s, f"tokens/step, {s}") for s in suites]))
            groups.append(mc.CustomMetricGroup(title="Acceptance rate (benchmark)", metrics=[
                self._benchmark(bench_metrics.ACCEPTANCE_RATE, variant, s, s) for s in suites]))
        if self.baseline:
            title = f"Speed-up over vllm-{self.baseline.name} (benchmark ITL p50)"
            groups.append(mc.CustomMetricGroup(title=title, metrics=[
                self._alarmed(self._benchmark(bench_metrics.SPEED_UP, variant, s, s), f"SpeedUp-{s}",
                              monitoring.min_speed_up[s], LT,
                              f"measured speed-up on the {s} suite below the bound: speculation does "
                              "not pay", period=BENCHMARK_PERIOD, missing=cw.TreatMissingData.IGNORE)
                if s in monitoring.min_speed_up else self._benchmark(bench_metrics.SPEED_UP, variant, s, s)
                for s in suites]))
        self.facade.monitor_custom(
            human_readable_name=f"Speculation: vllm-{variant} ({server.engine}, {server.draft_model}, "
                                f"k={server.num_speculative_tokens})",
            alarm_friendly_name=variant, metric_groups=groups)

    def _benchmark_latency_group(self, variant: str, per_step: bool) -> mc.CustomMetricGroup:
        """Per-token ITL as the benchmark measured it, per suite. Where the server records step
        times (every speculative server), the ITL alarm reads the worst suite from here."""
        suites = self.environment.benchmark.suites
        per_suite = {f"s{i}": self._benchmark("InterTokenLatencyP90", variant, s, s)
                     for i, s in enumerate(suites)}
        metrics: list = list(per_suite.values())
        if per_step:
            worst = cw.MathExpression(expression=f"MAX([{', '.join(per_suite)}])", using_metrics=per_suite,
                                      label="worst suite", period=BENCHMARK_PERIOD)
            metrics.insert(0, self._alarmed(
                worst, "ITL", self.environment.monitoring.itl_p90_ms, GT,
                f"p90 inter-token latency of vllm-{variant} in the last benchmark above the bound "
                "(ms; the server reports step times)", period=BENCHMARK_PERIOD,
                missing=cw.TreatMissingData.IGNORE))
        return mc.CustomMetricGroup(title="Inter-token latency p90 per output token (benchmark, ms)",
                                    metrics=metrics)

    def _accelerator_section(self) -> None:
        nodes = self.environment.accelerators
        ready = cw.Metric(namespace=names.BENCHMARK_METRICS_NAMESPACE, metric_name=catalog.READY_NODES,
                          dimensions_map={"Environment": self.environment.name,
                                          "NodeGroup": self.environment.accelerator_nodegroup_name},
                          statistic="Minimum", label="ready Trn2 nodes", period=ALARM_PERIOD)
        groups = [mc.CustomMetricGroup(title="Ready Trn2 nodes", metrics=[
            self._alarmed(ready, "TrnNodes", nodes.desired_size, LT,
                          "fewer ready Trn2 nodes than accelerators.desired_size", period=ALARM_PERIOD,
                          missing=cw.TreatMissingData.BREACHING) if nodes.desired_size else ready])]
        if nodes.neuron_monitor:
            groups += [
                mc.CustomMetricGroup(title="NeuronCore utilization per node (%)", metrics=[
                    self._node_search("node_neuroncore_utilization", "Average")]),
                mc.CustomMetricGroup(title="NeuronCore memory (HBM) used per node (bytes)", metrics=[
                    self._node_search("node_neuroncore_memory_usage_total", "Average")]),
                mc.CustomMetricGroup(title="Neuron execution errors and ECC events per node", metrics=[
                    self._node_search("node_neuron_execution_errors_total", "Sum"),
                    self._node_search("node_neurondevice_hw_ecc_events_total", "Sum")]),
            ]
        self.facade.monitor_custom(human_readable_name="Accelerators (Trn2)",
                                   alarm_friendly_name="accelerators", metric_groups=groups)

    def _model_cache_section(self, file_system_id: str) -> None:
        def fsx(name: str) -> cw.Metric:
            return cw.Metric(namespace="AWS/FSx", metric_name=name, statistic="Sum", period=MINUTE,
                             dimensions_map={"FileSystemId": file_system_id})
        throughput = [cw.MathExpression(expression=f"{key} / PERIOD({key}) / 1048576",
                                        using_metrics={key: fsx(name)}, label=label, period=MINUTE)
                      for key, name, label in (("read", "DataReadBytes", "read MiB/s"),
                                               ("written", "DataWriteBytes", "write MiB/s"))]
        self.facade.monitor_custom(human_readable_name="Model cache (FSx for Lustre)",
                                   alarm_friendly_name="model-cache", metric_groups=[
                                       mc.CustomMetricGroup(title="Throughput (MiB/s)", metrics=throughput)])

    def _alarmed(self, metric, name: str, threshold: float, comparison: cw.ComparisonOperator,
                 description: str, *, period: Duration,
                 missing: cw.TreatMissingData) -> mc.CustomMetricWithAlarm:
        # Live metrics must breach for 15 minutes; a benchmark result counts at once.
        periods = 3 if period == ALARM_PERIOD else 1
        return mc.CustomMetricWithAlarm(
            metric=metric, alarm_friendly_name=name,
            add_alarm={"Critical": mc.CustomThreshold(
                threshold=threshold, comparison_operator=comparison, evaluation_periods=periods,
                datapoints_to_alarm=periods, period=period, treat_missing_data_override=missing,
                additional_description=description)})
