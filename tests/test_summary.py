"""`make synth` ends with a summary a person can read, and the manifests written beside it."""

import pytest
import yaml

from specdec.summary import summarize


def test_summary_names_stack_region_node_groups_validation_and_where_files_are(shipped):
    dev = shipped["dev"]
    text = summarize(dev.outdir)
    assert "specdec-dev (select it as SpecDecStack) in 123456789012/us-east-2" in text
    assert str(dev.template_path) in text
    nodegroups = [line for line in text.splitlines() if line.startswith("node group")]
    assert len(nodegroups) == len(dev.resources("AWS::EKS::Nodegroup"))
    assert any("trn2.48xlarge" in line for line in nodegroups)
    assert "AwsSolutions success: 0 open findings" in text
    assert f"manifests    {dev.outdir / 'manifests'}/ ({len(dev.objects)} files)" in text
    assert ("next         python -m specdec preflight -e dev, then "
            "npx cdk deploy SpecDecStack -c env=dev") in text


def test_summary_lists_each_server_with_its_draft_k_and_image_and_the_dashboard(shipped):
    text = summarize(shipped["engines"].outdir)
    servers = [line for line in text.splitlines() if line.startswith("server")]
    assert servers == [
        "server       vllm-recipe: eagle draft Qwen/Qwen3-1.7B, k=7, "
        "image 0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04",
        "server       vllm-eagle3: eagle3 draft RedHatAI/Qwen3-32B-speculator.eagle3, k=3, "
        "image 0.29.0.1.2.0-neuronx-py314-sdk2.33.0-ubuntu26.04",
        "server       vllm-baseline: no draft (baseline), image 0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04",
    ]
    alarms = len(shipped["engines"].resources("AWS::CloudWatch::Alarm"))
    assert f"monitoring   dashboard specdec-engines with {alarms} alarms" in text


def test_summary_writes_every_applied_kubernetes_object_as_yaml(shipped):
    dev = shipped["dev"]
    summarize(dev.outdir)
    written = sorted((dev.outdir / "manifests").glob("*.yaml"))
    assert [yaml.safe_load(p.read_text()) for p in written] == dev.objects


def test_summary_of_a_folder_without_a_cloud_assembly_says_what_to_run(tmp_path, capsys):
    from specdec.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["summary", str(tmp_path)])
    assert stop.value.code == f"{tmp_path}: no cloud assembly here; run `make synth` first"
