"""The built-in data sets by name, and what torchvision expects on disk for each (for the offline
error message). Plain data: the CLI completes these names without importing numpy or torch."""

BUILTIN = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn")

# What torchvision looks for under --data-root, for the offline error message.
# torchvision checks for the test files too, even when only the training set is loaded, and
# unpacks the .gz files only when asked to download.
_IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
EXPECTED_FILES = {
    "mnist": ("MNIST/raw", _IDX, "(or the same names ending in .gz)"),
    "fashion-mnist": ("FashionMNIST/raw", _IDX, "(or the same names ending in .gz)"),
    "cifar10": (".", ["cifar-10-batches-py/data_batch_1 ... data_batch_5", "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"], "(the unpacked cifar-10-python.tar.gz)"),
    "svhn": (".", ["train_32x32.mat"], ""),
}
