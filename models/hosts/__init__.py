"""Host models: networks whose activations sparse dictionaries are trained on (models/hosts/registry.py)."""
from models.hosts import digits_cnn, export_host, torchvision_host  # noqa: F401  (they register themselves)
from models.hosts.layers import layer_shapes  # noqa: F401
from models.hosts.registry import Host, HostError, Opened, all_hosts, get, open_host, raw_inputs  # noqa: F401
