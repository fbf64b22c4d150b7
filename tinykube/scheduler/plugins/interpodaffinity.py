"""InterPodAffinity (placeholder while being written)."""


class InterPodAffinity:
    name = "InterPodAffinity"

    def pre_filter(self, state):
        return None

    def unresolvable(self, reason):
        return False

    def score(self, state, nodes):
        return None
