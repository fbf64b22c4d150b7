"""ImageLocality: prefer nodes that already have the pod's images, weighted by how
widely each image is spread (upstream's scaledImageScore, thresholds 23 MB and
1000 MB per container)."""

from __future__ import annotations

from tinykube.scheduler.framework import CycleState

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized(image: str) -> str:
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return image + ":latest"


def image_score(sum_scores: int, containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * max(containers, 1)
    clamped = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return 100 * (clamped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality:
    name = "ImageLocality"

    def score(self, state: CycleState, nodes) -> list[int] | None:
        images = [normalized(i) for i in state.pod.images if i]
        if not images or not state.cache.counts["images"]:
            return None
        all_nodes = state.cache.node_list
        spread = {i: sum(1 for n in all_nodes if i in n.images) for i in images}
        total = max(len(all_nodes), 1)
        return [image_score(sum(int(n.images[i] * spread[i] / total) for i in images if i in n.images),
                            len(images)) for n in nodes]
