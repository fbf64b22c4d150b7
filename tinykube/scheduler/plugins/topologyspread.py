"""PodTopologySpread (placeholder while being written)."""


class PodTopologySpread:
    name = "PodTopologySpread"

    def pre_filter(self, state):
        return None

    def unresolvable(self, reason):
        return False

    def score(self, state, nodes):
        return None
