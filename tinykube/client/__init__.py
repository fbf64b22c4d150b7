"""The one way components talk to the API server: client, informers, work queues.

Every component (node agent, controllers, scheduler, proxy, dns, dashboard) reads and
writes cluster state only through this package, in Kubernetes' vocabulary and with
client-go's semantics. `ApiClient` speaks the REST verbs over one keep-alive HTTPS
session (kubeconfig or server + token), pages lists, streams watches and raises the
tinykube.api.errors class of every failure Status. An `Informer` lists, then watches,
keeping an indexed in-memory `Store` equal to the server's state (resuming broken
watches, relisting on 410 with synthetic events) and calls its handlers in order;
`InformerFactory` shares one informer per resource. A `WorkQueue` hands each key to
one worker at a time with per-key exponential back-off, the shape of every
level-triggered controller. `LeaderElector` makes sure only one copy of a component
acts, through a Lease; `EventRecorder` writes the Events `kubectl describe` shows.
`FakeApiClient` and `FakeClock` stand in for the server and time in unit tests.
"""

from tinykube.client.clock import REAL_CLOCK, Clock, FakeClock, RealClock
from tinykube.client.config import ClientConfig, load_kubeconfig
from tinykube.client.fake import Action, FakeApiClient
from tinykube.client.factory import InformerFactory
from tinykube.client.informer import EventHandlers, Informer
from tinykube.client.leaderelection import LeaderElector, LeadershipLost
from tinykube.client.ratelimit import (Backoff, BucketRateLimiter, ItemExponentialFailureRateLimiter,
                                       MaxOfRateLimiter, default_controller_rate_limiter)
from tinykube.client.record import NORMAL, WARNING, EventRecorder
from tinykube.client.rest import ApiClient, ObjectList, resolve, resource_path
from tinykube.client.status import TransportError, error_from_status, is_retryable, retry_after
from tinykube.client.store import (Store, namespace_index, node_name_index, object_key, owner_uid_index,
                                   split_key)
from tinykube.client.watch import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent, WatchStream
from tinykube.client.workqueue import ShutDown, WorkQueue

__all__ = [
    "ADDED", "BOOKMARK", "DELETED", "ERROR", "MODIFIED", "NORMAL", "REAL_CLOCK", "WARNING",
    "Action", "ApiClient", "Backoff", "BucketRateLimiter", "ClientConfig", "Clock", "EventHandlers",
    "EventRecorder", "FakeApiClient", "FakeClock", "Informer", "InformerFactory",
    "ItemExponentialFailureRateLimiter", "LeaderElector", "LeadershipLost", "MaxOfRateLimiter",
    "ObjectList", "RealClock", "ShutDown", "Store", "TransportError", "WatchEvent", "WatchStream",
    "WorkQueue", "default_controller_rate_limiter", "error_from_status", "is_retryable",
    "load_kubeconfig", "namespace_index", "node_name_index", "object_key", "owner_uid_index",
    "resolve", "resource_path", "retry_after", "split_key",
]
