"""Trainium2 instance shapes SpecDec can schedule on.

Source: AWS Neuron docs, "Trainium2 architecture" and "Amazon EC2 Trn2 instances": each
Trainium2 chip has 8 physical NeuronCore-v3 and 96 GiB of HBM at 2.9 TB/s (46.4 TB/s for the 16
chips of a trn2.48xlarge); the logical NeuronCore configuration (LNC) fuses 1 or 2 physical
cores into one logical core (default 2).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class AcceleratorInstance:
    instance_type: str
    chips: int
    vcpus: int
    memory_gib: int
    physical_cores_per_chip: int = 8
    hbm_gib_per_chip: int = 96
    hbm_bytes_per_s_per_chip: float = 2.9e12

    def logical_cores(self, lnc: int) -> int:
        return self.chips * self.physical_cores_per_chip // lnc

    def logical_cores_per_chip(self, lnc: int) -> int:
        return self.physical_cores_per_chip // lnc


INSTANCES: dict[str, AcceleratorInstance] = {
    i.instance_type: i
    for i in (
        AcceleratorInstance("trn2.48xlarge", chips=16, vcpus=192, memory_gib=2048),
        AcceleratorInstance("trn2.3xlarge", chips=1, vcpus=12, memory_gib=128),
    )
}
