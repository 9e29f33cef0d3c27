"""Readers of the dataset file formats stager validates, each yielding bounded blocks of samples.

``npy`` (``.npy``, ``.npz``), ``idx`` (MNIST), ``cifar`` (CIFAR-10 python
batches), ``tabular`` (CSV) and ``images`` (class folders of PNG/JPEG), all on
the ``Source`` interface of ``base``.
"""
