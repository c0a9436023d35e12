"""Watching a deployment: what the stack installs to get metrics into CloudWatch, the dashboard
it draws, widget by widget, and the alarms it raises, for the shipped environments and for
environments that are not in the repo (baseline off, monitoring off, a V1 image, other bounds)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from cdk_constructs.dashboard import ServingDashboard
from cdk_constructs.metrics_pipeline import AGENT_POLICY
from cdk_constructs.neuron import NEURON_TOLERATION
from k8s.metrics_forwarder import forwarder_settings
from specdec import names
from specdec.config import load_environment, parse_environment
from specdec.manifests import render_intrinsic
from tests.conftest import SHIPPED, deep_merge

STEP_TIME = "Decode step time (ms; one observation per step of up to k+1 tokens)"
ITL = "Inter-token latency per output token (ms)"
FILE_SYSTEM = "fs-0123456789abcdef0"


def custom(overrides: dict):
    base = json.loads(Path("environments/dev.json").read_text())
    return parse_environment("lab", deep_merge(base, overrides), "lab.json")


def dashboard_template(overrides: dict) -> dict:
    """The dashboard construct alone, in a bare stack: a few seconds instead of a full synth."""
    environment = custom(overrides)
    stack = cdk.Stack(
        cdk.App(), "Lab", env=cdk.Environment(account=environment.account, region=environment.region)
    )
    ServingDashboard(stack, "Dashboard", environment=environment, file_system_id=FILE_SYSTEM)
    return Template.from_stack(stack).to_json()


def alarms(template: dict) -> dict[str, dict]:
    """alarm name -> (threshold, comparison, missing data, metric names or expressions)."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            p = resource["Properties"]
            metrics = sorted(
                m.get("Expression") or m["MetricStat"]["Metric"]["MetricName"] for m in p["Metrics"]
            )
            found[p["AlarmName"]] = {
                "threshold": p["Threshold"],
                "comparison": p["ComparisonOperator"],
                "missing": p["TreatMissingData"],
                "metrics": metrics,
                "actions": p["AlarmActions"],
            }
    return found


def widgets(template: dict) -> dict[str, dict[str, list]]:
    """section header (its text after '### ') -> widget title -> metric lines, from the one dashboard."""
    (dashboard,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = json.loads(render_intrinsic(dashboard["DashboardBody"]))
    sections: dict[str, dict[str, list]] = {}
    for widget in body["widgets"]:
        properties = widget["properties"]
        if "markdown" in properties:
            current = sections.setdefault(properties["markdown"].removeprefix("### "), {})
        else:
            current[properties["title"]] = properties.get("metrics", [])
    return sections


def dimensions(line: list) -> dict[str, str]:
    """A dashboard metric line: namespace, name, then dimension name/value pairs, then options."""
    pairs = line[2:-1] if isinstance(line[-1], dict) else line[2:]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def metric_names(lines: list) -> set[str]:
    """Names of the metrics a widget draws (visible or feeding an expression) and its expressions."""
    found = set()
    for line in lines:
        if isinstance(line[0], dict):
            found.add(line[0]["expression"])
        else:
            found.add(line[1])
    return found


# The pipeline ------------------------------------------------------------------------------------


def addon(synth) -> dict:
    (found,) = [
        r["Properties"]
        for r in synth.resources("AWS::EKS::Addon").values()
        if r["Properties"]["AddonName"] == "amazon-cloudwatch-observability"
    ]
    return found


@pytest.mark.parametrize("name", SHIPPED)
def test_the_cloudwatch_observability_addon_runs_container_insights_and_the_one_neuron_monitor(shipped, name):
    synth = shipped[name]
    config = json.loads(addon(synth)["ConfigurationValues"])
    kubernetes = config["agent"]["config"]["logs"]["metrics_collected"]["kubernetes"]
    assert kubernetes == {"enhanced_container_insights": True, "accelerated_compute_metrics": True}
    assert config["neuronMonitor"] == {"enabled": True} and config["containerLogs"] == {"enabled": False}
    # The add-on brings its own neuron-monitor, so SpecDec's DaemonSet is not installed as well.
    assert [o for o in synth.objects_of("DaemonSet") if "neuron-monitor" in o["metadata"]["name"]] == []


def test_the_addon_agent_gets_its_documented_policy_through_pod_identity(dev):
    (association,) = addon(dev)["PodIdentityAssociations"]
    assert association["ServiceAccount"] == "cloudwatch-agent"
    role = dev.template["Resources"][association["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert json.dumps(role["ManagedPolicyArns"]).count(AGENT_POLICY) == 1
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }


def test_the_forwarder_scrapes_the_servers_with_read_only_kubernetes_rights_and_may_only_put_specdec_metrics(
    dev,
):
    (deployment,) = [d for d in dev.objects_of("Deployment") if d["metadata"]["name"] == names.FORWARDER_NAME]
    pod = deployment["spec"]["template"]["spec"]
    assert (
        deployment["spec"]["replicas"] == 1 and pod["serviceAccountName"] == names.FORWARDER_SERVICE_ACCOUNT
    )
    assert pod["nodeSelector"] == {names.POOL_LABEL: names.SYSTEM_POOL}
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    # botocore reads AWS_DEFAULT_REGION, and the Pod Identity webhook sets no region if one is set.
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-2"
    command = pod["containers"][0]["command"][-1]
    assert "python -m specdec.forwarder" in command and "--metrics-namespace SpecDec" in command
    settings = forwarder_settings(load_environment("dev"))
    assert settings["variants"] == {
        "speculative": {"speculative": True, "engine": "V0"},
        "baseline": {"speculative": False, "engine": "V0"},
    }
    assert json.dumps(settings, separators=(",", ":")) in command.replace("'", "")
    rules = {
        o["kind"]: o["rules"]
        for o in dev.objects
        if o["kind"] in ("Role", "ClusterRole") and o["metadata"]["name"] == names.FORWARDER_NAME
    }
    assert rules == {
        "Role": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        "ClusterRole": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
    }
    (association,) = [
        a["Properties"]
        for a in dev.resources("AWS::EKS::PodIdentityAssociation").values()
        if a["Properties"]["ServiceAccount"] == names.FORWARDER_SERVICE_ACCOUNT
    ]
    role_id = association["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in dev.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "cloudwatch:PutMetricData",
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "SpecDec"}},
        }
    ]


def test_the_network_policy_admits_the_forwarder_and_nothing_else_new(dev):
    (policy,) = dev.objects_of("NetworkPolicy")
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    components = sorted(p["podSelector"]["matchLabels"][names.COMPONENT_LABEL] for p in peers)
    assert components == sorted(
        [names.BENCHMARK_COMPONENT, names.GATEWAY_COMPONENT, names.FORWARDER_COMPONENT]
    )
    assert all(set(p) == {"podSelector"} for p in peers)


def test_with_monitoring_off_nothing_is_installed_and_specdecs_own_neuron_monitor_runs(synth_custom):
    synth = synth_custom("nomonitor", {"monitoring": {"enabled": False}})
    addons = [r["Properties"]["AddonName"] for r in synth.resources("AWS::EKS::Addon").values()]
    assert "amazon-cloudwatch-observability" not in addons
    assert not synth.resources("AWS::CloudWatch::Dashboard") and not synth.resources("AWS::CloudWatch::Alarm")
    assert not [d for d in synth.objects_of("Deployment") if d["metadata"]["name"] == names.FORWARDER_NAME]
    (monitor,) = synth.objects_of("DaemonSet")
    pod = monitor["spec"]["template"]["spec"]
    assert monitor["metadata"]["name"] == "neuron-monitor"
    assert pod["nodeSelector"] == {names.POOL_LABEL: names.NEURON_POOL}
    assert pod["tolerations"] == [NEURON_TOLERATION]
    assert pod["containers"][0]["ports"] == [{"name": "metrics", "containerPort": names.NEURON_MONITOR_PORT}]
    assert "DashboardUrl" not in synth.template["Outputs"]


# The dashboard -----------------------------------------------------------------------------------


def test_one_dashboard_per_environment_named_after_the_stack_with_its_url_as_an_output(shipped):
    for name, synth in shipped.items():
        (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
        assert dashboard["Properties"]["DashboardName"] == f"specdec-{name}"
        assert synth.template["Outputs"]["DashboardUrl"]["Value"].endswith(
            f"#dashboards/dashboard/specdec-{name}"
        )


def test_the_default_image_shows_step_time_for_the_speculative_server_and_acceptance_from_the_benchmark(dev):
    sections = widgets(dev.template)
    assert list(sections) == [
        "Serving: vllm-speculative (nxdi)",
        "Speculation: vllm-speculative (nxdi, Qwen/Qwen3-1.7B, k=7)",
        "Serving: vllm-baseline (nxdi)",
        "Accelerators (Trn2)",
        "Model cache (FSx for Lustre)",
    ]
    speculative, baseline = (
        sections["Serving: vllm-speculative (nxdi)"],
        sections["Serving: vllm-baseline (nxdi)"],
    )
    step = speculative[STEP_TIME]
    assert metric_names(step) == {"DecodeStepTime"} and ITL not in speculative
    assert [line[-1]["stat"] for line in step] == ["p50", "p90", "p99"]
    assert [dimensions(line) for line in step] == [{"Environment": "dev", "Variant": "speculative"}] * 3
    assert metric_names(baseline[ITL]) == {"InterTokenLatency"} and STEP_TIME not in baseline
    assert {dimensions(line)["Variant"] for line in baseline[ITL]} == {"baseline"}
    assert [line[-1]["stat"] for line in baseline["Time to first token (ms)"]] == ["p50", "p90"]
    speculation = sections["Speculation: vllm-speculative (nxdi, Qwen/Qwen3-1.7B, k=7)"]
    assert metric_names(
        speculation["Mean tokens per step (benchmark; this image reports no acceptance)"]
    ) == {"MeanAcceptedTokens", "TokensPerStep"}
    assert metric_names(speculation["Acceptance rate (benchmark)"]) == {"AcceptanceRate"}
    speed_up = speculation["Speed-up over vllm-baseline (benchmark ITL p50)"]
    assert {dimensions(line)["Suite"] for line in speed_up} == {"structured", "open-ended"}
    assert {dimensions(line)["Variant"] for line in speed_up} == {"speculative"}
    # No series this image never reports.
    everything = set().union(
        *(metric_names(lines) for panels in sections.values() for lines in panels.values())
    )
    assert not {"SpeculativeAcceptedTokens", "SpeculativeDraftTokens"} & everything


def test_every_serving_panel_reads_the_forwarders_metrics_for_its_variant(dev):
    for variant, panels in (
        ("speculative", widgets(dev.template)["Serving: vllm-speculative (nxdi)"]),
        ("baseline", widgets(dev.template)["Serving: vllm-baseline (nxdi)"]),
    ):
        assert metric_names(panels["Generated tokens per second"]) == {
            "tokens / PERIOD(tokens)",
            "GeneratedTokens",
        }
        assert metric_names(panels["Requests running and waiting"]) == {"RequestsRunning", "RequestsWaiting"}
        assert metric_names(panels["End-to-end request latency (s)"]) == {"EndToEndLatency"}
        assert metric_names(panels["Ready server pods"]) == {"ReadyServers"}
        lines = [line for lines in panels.values() for line in lines if not isinstance(line[0], dict)]
        assert {dimensions(line)["Variant"] for line in lines} == {variant}


def test_accelerator_and_model_cache_panels_read_container_insights_and_fsx(dev):
    sections = widgets(dev.template)
    panels = sections["Accelerators (Trn2)"]
    for title, metric in (
        ("NeuronCore utilization per node (%)", "node_neuroncore_utilization"),
        ("NeuronCore memory (HBM) used per node (bytes)", "node_neuroncore_memory_usage_total"),
    ):
        (expression,) = metric_names(panels[title])
        assert expression.startswith("SEARCH('{ContainerInsights,ClusterName,InstanceId,NodeName} ")
        assert f'MetricName="{metric}"' in expression and 'ClusterName="specdec-dev"' in expression
    errors = " ".join(metric_names(panels["Neuron execution errors and ECC events per node"]))
    assert (
        "node_neuron_execution_errors_total" in errors and "node_neurondevice_hw_ecc_events_total" in errors
    )
    throughput = sections["Model cache (FSx for Lustre)"]["Throughput (MiB/s)"]
    assert metric_names(throughput) >= {"DataReadBytes", "DataWriteBytes"}
    fsx_lines = [line for line in throughput if not isinstance(line[0], dict)]
    assert all(line[0] == "AWS/FSx" and list(dimensions(line)) == ["FileSystemId"] for line in fsx_lines)


# The alarms --------------------------------------------------------------------------------------


def test_dev_raises_these_alarms_and_each_notifies_the_topic(dev):
    found = alarms(dev.template)
    assert {name: (a["threshold"], a["comparison"], a["metrics"]) for name, a in found.items()} == {
        "specdec-dev-speculative-ITL-Critical": (
            60,
            "GreaterThanThreshold",
            ["InterTokenLatencyP90", "InterTokenLatencyP90", "MAX([s0, s1])"],
        ),
        "specdec-dev-speculative-Ready-Critical": (1, "LessThanThreshold", ["ReadyServers"]),
        "specdec-dev-baseline-ITL-Critical": (60, "GreaterThanThreshold", ["InterTokenLatency"]),
        "specdec-dev-baseline-Ready-Critical": (1, "LessThanThreshold", ["ReadyServers"]),
        "specdec-dev-speculative-SpeedUp-structured-Critical": (1.5, "LessThanThreshold", ["SpeedUp"]),
        "specdec-dev-accelerators-TrnNodes-Critical": (1, "LessThanThreshold", ["ReadyNodes"]),
    }
    (topic,) = dev.resources("AWS::SNS::Topic")
    assert all(a["actions"] == [{"Ref": topic}] for a in found.values())
    # A dead forwarder must not look healthy.
    assert found["specdec-dev-speculative-Ready-Critical"]["missing"] == "breaching"
    assert not dev.resources("AWS::SNS::Subscription")


def test_cloudwatch_may_publish_to_the_alarm_topic_from_this_accounts_alarms_only(dev):
    (policy,) = dev.resources("AWS::SNS::TopicPolicy").values()
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":123456789012:alarm:*")


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(dev):
    (topic,) = dev.resources("AWS::SNS::Topic").values()
    key = dev.template["Resources"][topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and "kms:GenerateDataKey*" in s["Action"]
        for s in statements
    )


def test_bounds_and_the_e_mail_come_from_the_environment_file():
    template = dashboard_template(
        {
            "monitoring": {
                "itl_p90_ms": 42,
                "min_speed_up": {"open-ended": 1.1},
                "alarm_email": "oncall@example.com",
            },
            "accelerators": {"desired_size": 2, "max_size": 2},
            "serving": {"replicas": 2},
        }
    )
    found = alarms(template)
    assert found["specdec-lab-baseline-ITL-Critical"]["threshold"] == 42
    assert found["specdec-lab-speculative-ITL-Critical"]["threshold"] == 42
    assert found["specdec-lab-speculative-Ready-Critical"]["threshold"] == 2
    assert found["specdec-lab-accelerators-TrnNodes-Critical"]["threshold"] == 2
    assert found["specdec-lab-speculative-SpeedUp-open-ended-Critical"]["threshold"] == 1.1
    assert "specdec-lab-speculative-SpeedUp-structured-Critical" not in found
    (subscription,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"
    ]
    assert subscription == {**subscription, "Protocol": "email", "Endpoint": "oncall@example.com"}


def test_without_a_baseline_there_is_no_speed_up_and_no_baseline_panel_or_alarm():
    template = dashboard_template({"serving": {"baseline_enabled": False}})
    assert not [n for n in alarms(template) if "baseline" in n or "SpeedUp" in n]
    sections = widgets(template)
    assert "Serving: vllm-baseline (nxdi)" not in sections
    assert not [t for panels in sections.values() for t in panels if t.startswith("Speed-up")]
    assert "baseline" not in json.dumps(sections)


THREE_VARIANTS = {
    "accelerators": {"desired_size": 2, "max_size": 2},
    "serving": {
        "variants": [
            {
                "name": "recipe",
                "engine": "nxdi",
                "draft_model": "Qwen/Qwen3-1.7B",
                "num_speculative_tokens": 5,
            },
            {
                "name": "eagle3",
                "engine": "vllm-neuron",
                "draft_model": "RedHatAI/Qwen3-32B-speculator.eagle3",
                "num_speculative_tokens": 4,
            },
            {"name": "plain", "engine": "nxdi"},
        ]
    },
    "monitoring": {"min_acceptance_rate": 0.6},
}


def test_each_variant_is_watched_with_its_own_engines_metric_names():
    template = dashboard_template(THREE_VARIANTS)
    sections = widgets(template)
    assert list(sections)[:5] == [
        "Serving: vllm-recipe (nxdi)",
        "Speculation: vllm-recipe (nxdi, Qwen/Qwen3-1.7B, k=5)",
        "Serving: vllm-eagle3 (vllm-neuron)",
        "Speculation: vllm-eagle3 (vllm-neuron, RedHatAI/Qwen3-32B-speculator.eagle3, k=4)",
        "Serving: vllm-plain (nxdi)",
    ]
    # The plugin (V1) counts drafts and accepted tokens; the recipe (V0) does not.
    assert metric_names(sections["Serving: vllm-recipe (nxdi)"][STEP_TIME]) == {"DecodeStepTime"}
    # Both engines record one latency per step: on a speculative server, a step time.
    assert metric_names(sections["Serving: vllm-eagle3 (vllm-neuron)"][STEP_TIME]) == {"DecodeStepTime"}
    eagle3 = sections["Speculation: vllm-eagle3 (vllm-neuron, RedHatAI/Qwen3-32B-speculator.eagle3, k=4)"]
    assert metric_names(eagle3["Acceptance rate (server counters)"]) >= {
        "accepted / drafted",
        "SpeculativeAcceptedTokens",
        "SpeculativeDraftTokens",
    }
    assert "1 + accepted / drafts" in metric_names(eagle3["Mean tokens per step (server counters)"])
    recipe = sections["Speculation: vllm-recipe (nxdi, Qwen/Qwen3-1.7B, k=5)"]
    assert "Acceptance rate (benchmark)" in recipe and "Acceptance rate (server counters)" not in recipe
    for panels, variant in ((eagle3, "eagle3"), (recipe, "recipe")):
        speed_up = panels["Speed-up over vllm-plain (benchmark ITL p50)"]
        assert {dimensions(line)["Variant"] for line in speed_up} == {variant}

    found = alarms(template)
    assert found["specdec-lab-recipe-ITL-Critical"]["metrics"] == [
        "InterTokenLatencyP90",
        "InterTokenLatencyP90",
        "MAX([s0, s1])",
    ]
    assert (
        found["specdec-lab-eagle3-ITL-Critical"]["metrics"]
        == found["specdec-lab-recipe-ITL-Critical"]["metrics"]
    )
    assert found["specdec-lab-plain-ITL-Critical"]["metrics"] == ["InterTokenLatency"]
    acceptance = found["specdec-lab-eagle3-Acceptance-Critical"]
    assert acceptance["threshold"] == 0.6 and acceptance["comparison"] == "LessThanThreshold"
    assert "specdec-lab-recipe-Acceptance-Critical" not in found
    assert {n for n in found if "SpeedUp" in n} == {
        "specdec-lab-recipe-SpeedUp-structured-Critical",
        "specdec-lab-eagle3-SpeedUp-structured-Critical",
    }
    assert {n for n in found if n.endswith("Ready-Critical")} == {
        f"specdec-lab-{v}-Ready-Critical" for v in ("recipe", "eagle3", "plain")
    }


def test_the_forwarder_knows_each_variants_engine():
    settings = forwarder_settings(custom(THREE_VARIANTS))
    assert settings["variants"] == {
        "recipe": {"speculative": True, "engine": "V0"},
        "eagle3": {"speculative": True, "engine": "V1"},
        "plain": {"speculative": False, "engine": "V0"},
    }


def test_with_the_neuron_monitor_off_the_node_panels_go_and_the_node_count_stays():
    panels = widgets(dashboard_template({"accelerators": {"neuron_monitor": False}}))["Accelerators (Trn2)"]
    assert list(panels) == ["Ready Trn2 nodes"]
    assert metric_names(panels["Ready Trn2 nodes"]) == {"ReadyNodes"}


def test_a_node_group_meant_to_be_empty_has_no_node_alarm():
    assert not [
        n
        for n in alarms(dashboard_template({"accelerators": {"min_size": 0, "desired_size": 0}}))
        if "TrnNodes" in n
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"monitoring": {"min_speed_up": {"reasoning": 2}}}, "monitoring.min_speed_up.reasoning"),
        (
            {"benchmark": {"suites": ["open-ended"]}},
            "monitoring.min_speed_up.structured = 1.5 is not allowed: "
            "a suite that benchmark.suites runs: open-ended",
        ),
        ({"monitoring": {"min_speed_up": {"structured": 0}}}, "a speed-up above 0"),
        ({"monitoring": {"min_acceptance_rate": 1.5}}, "monitoring.min_acceptance_rate = 1.5"),
        (
            {"monitoring": {"alarm_email": "not-an-address"}},
            "monitoring.alarm_email = 'not-an-address' is not allowed",
        ),
    ],
)
def test_bad_monitoring_settings_are_one_line_errors(overrides, expected):
    from specdec.config import ConfigError

    with pytest.raises(ConfigError) as error:
        custom(overrides)
    assert len(error.value.problems) == 1 and expected in error.value.problems[0]
    assert error.value.problems[0].startswith("lab.json: ")
