"""The one error type the app raises for bad input, with messages a clinician can act on."""


class PneumoError(Exception):
    """A problem with an input, a model bundle or a request, explained in plain words."""


class ImageLoadError(PneumoError):
    """An image file could not be read."""


class BundleError(PneumoError):
    """A model bundle is missing, corrupt or does not match its description."""


class DatasetError(PneumoError):
    """A training folder cannot be used as it is."""
