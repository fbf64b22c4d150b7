"""The service proxy: Services and EndpointSlices rendered to one nftables table per node.

A pure `render(services, slices, node)` produces the whole rule set as nft text; one
level-triggered loop applies it atomically (`nft -f`) whenever it changes. Talks only
to the API server (tinykube.client).
"""
