"""What several tests name: the digits domain's data key (the last part of a model group)."""
from models.domains import spec

DIGITS = spec().key


def digits(data_dir=None, limit=None, download: bool = True, inputs=None):
    """The digits domain's splits (models.domains.dataset), as the tests load them."""
    from models.data import normalize
    from models.domains import dataset

    return dataset(spec(), data_dir, limit, inputs or normalize, download)[0]


def fitted(family, **settings):
    """A family's config for digits (its input size and classes filled in, as training fills them)."""
    return family.fit(family.config(**settings), spec().layout())
