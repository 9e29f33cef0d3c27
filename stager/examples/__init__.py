"""The built-in examples: an MLP on MNIST and a small ResNet on CIFAR-10.

``formats`` reads and writes the datasets' real file formats, ``synthetic``
writes learnable stand-in data in those formats (nothing is ever downloaded),
and ``mnist`` / ``cifar`` hold the modules and datamodules that
``pipelines/train/mnist.yaml`` and ``cifar.yaml`` name.
"""
