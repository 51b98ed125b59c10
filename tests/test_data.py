"""Datasets through torchvision, read from files in the real formats that the tests write."""

from __future__ import annotations

import pytest
import torch

from playground.data import DATASETS, DataError, get_info, load_tensors, parse_label


@pytest.mark.parametrize("name, shape", [("mnist", (1, 28, 28)), ("fashion", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_load_tensors_reads_the_real_formats(data_root, name, shape):
    x, y = load_tensors(name, data_root, train=True, download=False)
    assert x.shape[1:] == shape and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and len(y) == len(x) and set(y.tolist()) <= set(range(10))
    # the fixture draws class k as a bright row k + 2: the pixels must have kept their places
    k = int(y[0])
    assert x[0, 0, 2 + k].mean() > 0.9
    xt, _ = load_tensors(name, data_root, train=False, download=False)
    assert len(xt) < len(x)


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="could not read MNIST"):
        load_tensors("mnist", tmp_path, download=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'svhn'"):
        get_info("svhn")


@pytest.mark.parametrize(
    "label, expected", [(None, None), ("any", None), (-1, None), (3, 3), ("7", 7), ("Sneaker", 7), ("ankle boot", 9)]
)
def test_parse_label(label, expected):
    assert parse_label(DATASETS["fashion"], label) == expected


@pytest.mark.parametrize("label", [10, -2, "unicorn", 2.5, True])
def test_parse_label_refuses(label):
    with pytest.raises(DataError):
        parse_label(DATASETS["mnist"], label)
