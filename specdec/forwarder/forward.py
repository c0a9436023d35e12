"""One forwarding cycle, kept free of I/O: what was listed and scraped in, MetricData out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from specdec.forwarder import translate
from specdec.forwarder.sources import Pod
from specdec.vllm_metrics import V0, V1, Engine

ENGINES = {engine.generation: engine for engine in (V0, V1)}


@dataclass(frozen=True)
class VariantSettings:
    speculative: bool
    engine: Engine


@dataclass(frozen=True)
class Settings:
    environment: str
    namespace: str
    node_group: str
    port: int
    variants: dict[str, VariantSettings]

    @classmethod
    def from_json(cls, data: dict) -> Settings:
        variants = {name: VariantSettings(v["speculative"], ENGINES[v["engine"]])
                    for name, v in data["variants"].items()}
        return cls(data["environment"], data["namespace"], data["node_group"], data["port"], variants)


@dataclass
class Forwarder:
    settings: Settings
    # Each pod's samples at its last scrape, to take increases from.
    last: dict[str, dict[translate.Key, float]] = field(default_factory=dict)

    def cycle(self, pods: list[Pod], ready_nodes: int, scrape: Callable[[str], str],
              timestamp: datetime) -> tuple[list[dict], list[str]]:
        """MetricData for this cycle, and one line per problem met (a pod that did not answer)."""
        problems: list[str] = []
        grown: dict[str, dict] = {v: defaultdict(float) for v in self.settings.variants}
        now: dict[str, dict] = {v: defaultdict(float) for v in self.settings.variants}
        seen = {}
        for pod in pods:
            if pod.variant not in self.settings.variants or not (pod.ready and pod.ip):
                continue
            url = f"http://{pod.ip}:{self.settings.port}/metrics"
            try:
                samples = translate.parse(scrape(url), url)
            except (OSError, translate.ScrapeError) as error:
                problems.append(f"{pod.name}: {error}")
                continue
            for key, value in translate.increase(self.last.get(pod.name), samples).items():
                grown[pod.variant][key] += value
            for key, value in samples.items():
                now[pod.variant][key] += value
            seen[pod.name] = samples
        self.last = seen  # pods that went away or failed start over
        data = []
        for variant, settings in self.settings.variants.items():
            ready = sum(p.ready for p in pods if p.variant == variant)
            data += translate.server_metric_data(
                environment=self.settings.environment, variant=variant, engine=settings.engine,
                speculative=settings.speculative, grown=grown[variant], now=now[variant], ready=ready,
                timestamp=timestamp)
        data += translate.node_metric_data(environment=self.settings.environment,
                                           node_group=self.settings.node_group, ready=ready_nodes,
                                           timestamp=timestamp)
        return data, problems
