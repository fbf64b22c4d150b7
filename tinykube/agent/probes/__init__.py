"""Container probes (liveness, readiness, startup), run by the node agent itself.

rules.py is the pure part (defaults, when to probe, thresholds, the published result,
event messages), handlers.py the probes that touch the world (exec through the
runtime's exec_sync; httpGet and tcpSocket from the agent into the pod's network
namespace, so nothing is needed inside the image), grpc.py the gRPC health check (HTTP/2
from the agent into the pod's namespace as well), manager.py the per-pod workers the
pod worker (pods.py) consults on every sync.
"""

from .handlers import ProbeError, Target
from .manager import ProbeManager
from .rules import LIVENESS, READINESS, STARTUP, Result, Verdict

__all__ = ["LIVENESS", "READINESS", "STARTUP", "ProbeError", "ProbeManager", "Result", "Target", "Verdict"]
