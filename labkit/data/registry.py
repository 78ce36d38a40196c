"""What each dataset is made of: official file names, hashes, sizes and where to download them.

This module is data, not logic. Every hash is of a file byte-identical to the
official release (see ``../shared/data/SOURCES.md`` for how each was checked):

* ``sha256`` and ``size`` are of the file as distributed (the ``.gz``);
* ``content_sha256`` is of the uncompressed IDX content, so a copy that was
  recompressed (Debian's ``dataset-fashion-mnist`` is) is still accepted.

A hash of ``None`` means no official hash is published for that file: it is
trusted only when it comes out of a verified archive, and otherwise checked for
structure alone, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One official file."""

    name: str
    sha256: str | None = None
    size: int | None = None
    content_sha256: str | None = None


@dataclass(frozen=True)
class ArchiveSpec:
    """An official archive that holds a dataset's files (EMNIST's ``gzip.zip``)."""

    name: str
    urls: tuple[str, ...]
    known_hash: str  # in pooch's "algorithm:hexdigest" form
    size: int
    member_prefix: str  # folder of the data files inside the archive


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its files per split, its classes, and how to get it.

    ``folder`` is the sub-folder of a data mirror and of the download cache.
    ``transposed`` marks images stored column-major (EMNIST), which labkit turns
    upright. ``label_offset`` is subtracted from the stored labels so classes
    always count from 0 (EMNIST Letters stores 1..26).
    """

    name: str
    title: str
    folder: str
    images: dict[str, FileSpec]
    labels: dict[str, FileSpec]
    counts: dict[str, int]
    n_classes: int
    base_urls: tuple[str, ...] = ()
    archive: ArchiveSpec | None = None
    mapping: FileSpec | None = None
    class_names: tuple[str, ...] | None = None
    transposed: bool = False
    label_offset: int = 0
    debian_dirs: tuple[str, ...] = ()
    notes: str = ""
    partitionable: bool = False

    def files(self, split: str | None = None) -> list[FileSpec]:
        """The data files of one split (or of every split), mapping file excluded."""
        splits = SPLITS if split is None else (split,)
        return [spec for s in splits for spec in (self.images[s], self.labels[s])]


# --------------------------------------------------------------------------- MNIST
MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    folder="mnist",
    images={
        "train": FileSpec(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9912422,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        "test": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
    },
    labels={
        "train": FileSpec(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28881,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "test": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    counts={"train": 60000, "test": 10000},
    n_classes=10,
    base_urls=(
        "https://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    class_names=tuple(str(d) for d in range(10)),
)

# ------------------------------------------------------------------- Fashion-MNIST
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Zalando Fashion-MNIST",
    folder="fashion-mnist",
    images={
        "train": FileSpec(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26421880,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "test": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4422102,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
    },
    labels={
        "train": FileSpec(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29515,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5148,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    counts={"train": 60000, "test": 10000},
    n_classes=10,
    base_urls=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    debian_dirs=("/usr/share/datasets/fashion-mnist",),
)

# -------------------------------------------------------------------------- EMNIST
# NIST's single official archive holds every split as gzip/emnist-*.gz.
EMNIST_ARCHIVE = ArchiveSpec(
    name="gzip.zip",
    urls=(
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
        "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip",
    ),
    known_hash="md5:58c8d27c78d21e728a6bc7b3cc06412e",
    size=561753746,
    member_prefix="gzip/",
)

_EMNIST_MAPPINGS = {
    "balanced": "956dc507bf69e9f31f4e3e876d22ec66124aa229b5d0bd65ab8956a8044d3ede",
    "bymerge": "956dc507bf69e9f31f4e3e876d22ec66124aa229b5d0bd65ab8956a8044d3ede",
    "byclass": "68fa9091ed325830418b5a8d732f32316e54a480b9f8994a161abb4eddd0d078",
    "digits": "6d157dc46a7b1c80d630f4fed571d9964db37ee1669cac403b6db2c8bb109d94",
    "mnist": "6d157dc46a7b1c80d630f4fed571d9964db37ee1669cac403b6db2c8bb109d94",
    "letters": "a56cb9a31c08e3251a61ea7b1ec8bc4f4cabdc1edf3128508d3a485ad53fa456",
}

# (split, kind) -> (sha256, size, content_sha256) of each official gz file.
_EMNIST_FILES: dict[str, dict[tuple[str, str], tuple[str | None, int | None, str | None]]] = {
    "byclass": {
        ("train", "images"): ("9e21987f03a6eb8b870187e785883ddad96947299587908f1a7ec2ca0f4be5f0", 173367313, None),
        ("train", "labels"): ("f7ef403d48dc18a89dae0d83d11ee69cecb6e1c12c3a961d03712e495c02a8fa", 491603, None),
        ("test", "images"): ("5ec835bd5d5b1a66378a132e727fef20fe994b3cc666899befcca5ac766f50cd", 28908322,
                             "385559d7d5c96f49cd6b55b3e9e76d7ecbf568897b6067e8cac8f1ffc2f50f81"),
        ("test", "labels"): ("501e305eeeacb093b162592d80e8a2632040872360fa6d85cfcb2200d91ca92a", 81839,
                             "842d01413932b3ce7afbc9990376a16f8880a212bb42d66fa2922b4218cf300a"),
    },
    "bymerge": {
        # No hash of the ByMerge train files is published outside the archive.
        ("train", "images"): (None, None, None),
        ("train", "labels"): (None, None, None),
        ("test", "images"): ("5e5815ec1b522089134435f7c55e75a00960b58414793593ffff23efc0821683", 28905295,
                             "68b2763a83f2661dace0df055282a50f4d4aea3dab401f2a04e2e7e2c5bc8590"),
        ("test", "labels"): ("8bda1516255683ba9071e141947ca0c91a911176065cdd6259b0b4d8dc5b5f35", 79351,
                             "17b8bd69b4e584fa425d7268b1f58882ef4bf7f241a6116fa606bb6d36839b5a"),
    },
    "balanced": {
        ("train", "images"): ("74295e75e4e9fa2c102147460ee7eb763653d5132d883a84fb88932bfb8d2db4", 28207740, None),
        ("train", "labels"): ("b46d41e5156a0a8aaaa4d18979fdd1588850fa8571018acffd5d93b325a7d6ed", 80618,
                              "a9c2984bf327d013e469d8b66e4bf6e4e98aaeebddc35d1c869b2cd3d1806e12"),
        ("test", "images"): ("117fc12b015e37ea98bfb2cbba3f77c3782c056cdbd219b87abfc8661d7135db", 4714707, None),
        ("test", "labels"): ("a67cac948379b67270b9a4d0a01c8ec661598accf2f2b1964340b7c83cb175cd", 13504,
                             "91807a38b4dab13f65fed7d9cac9fa6e7d27fc8c24f52327b8e6435ebfe18e90"),
    },
    "letters": {
        ("train", "images"): ("6288f418a917e007bf5fddb823a2dc7a5c6a35031401b93292a539cb12bd881f", 30804864, None),
        ("train", "labels"): ("9759af91ea6bccdf07a6040fd085861f2ec88e37f7c3f5760f6feb57106fbe5c", 79283,
                              "e8e94c3f4353d5532fd9604b939cb4c76e7847945b9b0d9ff7884d881dead6bc"),
        ("test", "images"): ("50f0e93d75b99b463e9760b8345866f22587fa2c2fba472730a5ba09c693412d", 5039157, None),
        ("test", "labels"): ("924955c31fe7fd809b7303b5c0141282955f4b8390c74cdfd5d80435e0f4b4cb", 144,
                             "22dbcde0a929a7f166bdac863b9195b2994d840a1e082f8f6daaeac5606376a6"),
    },
    "digits": {
        ("train", "images"): ("f7c95004d14d81af89522e67d8f0c781dfb3bd544181c81bfe1eb6b41c35b726", 59515779, None),
        ("train", "labels"): ("6638a6ff5fe2eefd9cca2471995b46c82986b8e4b2a70d2f5ce8e05d7edb319e", 113859,
                              "86013a4b932e35477a90ecff239cf492643795cf3c68dd6b7fae3264fb24316b"),
        ("test", "images"): ("20ebe43509264f7639d37c835a3f0b009e90b29e00a099a03101abe1644a3f63", 9908519, None),
        ("test", "labels"): ("bad1834c45d5988e270b99d43b13edc3fd898f658ffbc2caf2846ef27f7b05b0", 19960,
                             "a456cc5cfc928851403b513f94937b9d7570f424ea6d56dce3b28f6c0723608a"),
    },
    "mnist": {
        ("train", "images"): ("5f9942f441031c0f1f2e4d162059fd6e19ea808b34c328b6d16cab0ed24c78f2", 14873795, None),
        ("train", "labels"): ("00c6d3c2342fdffb1711e0b5656cac4ce5862d2826399d383a9bac07d612e9f8", 29480,
                              "b5dade35dd22e02c3c6579167b8f17269bcdda2c6126abd598399160bb47317b"),
        ("test", "images"): ("b25640fa9e356c618132f5df347c95ef5bae6d9c2596be1de40f7e0ae1c3eac6", 2484884,
                             "0a5442aeabc1ec6cf0a8335d81debf853b46a7570f5d93805a4d6ef8b7281063"),
        ("test", "labels"): ("bcc5385d38f083dba046f5f756e99b32f5ea7fad122c6243c71c2239873065ca", 5144,
                             "a0ffd2d4ce92418e020d53cf36f2b6c154c4f59344098a5e8d3c6e588109f0a0"),
    },
}

_EMNIST_META = {
    # split: (title, n_classes, train count, test count)
    "byclass": ("EMNIST ByClass (62 unbalanced classes)", 62, 697932, 116323),
    "bymerge": ("EMNIST ByMerge (47 unbalanced classes)", 47, 697932, 116323),
    "balanced": ("EMNIST Balanced (47 balanced classes)", 47, 112800, 18800),
    "letters": ("EMNIST Letters (26 classes, upper and lower case merged)", 26, 124800, 20800),
    "digits": ("EMNIST Digits (10 classes)", 10, 240000, 40000),
    "mnist": ("EMNIST MNIST (10 classes)", 10, 60000, 10000),
}


def _emnist(split_name: str) -> DatasetSpec:
    title, n_classes, n_train, n_test = _EMNIST_META[split_name]
    table = _EMNIST_FILES[split_name]

    def file(split: str, kind: str) -> FileSpec:
        stem = "images-idx3" if kind == "images" else "labels-idx1"
        sha, size, content = table[(split, kind)]
        return FileSpec(f"emnist-{split_name}-{split}-{stem}-ubyte.gz", sha, size, content)

    return DatasetSpec(
        name=f"emnist-{split_name}",
        title=title,
        folder="emnist",
        images={s: file(s, "images") for s in SPLITS},
        labels={s: file(s, "labels") for s in SPLITS},
        counts={"train": n_train, "test": n_test},
        n_classes=n_classes,
        archive=EMNIST_ARCHIVE,
        mapping=FileSpec(f"emnist-{split_name}-mapping.txt", _EMNIST_MAPPINGS[split_name]),
        transposed=True,
        label_offset=1 if split_name == "letters" else 0,
        partitionable=split_name in ("bymerge", "byclass"),
        notes=(
            "Letters stores labels 1..26 (1 = 'A/a'); labkit subtracts 1 so classes are 0..25."
            if split_name == "letters"
            else ""
        ),
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (MNIST, FASHION_MNIST, *(_emnist(s) for s in _EMNIST_META))
}


def get(name: str) -> DatasetSpec:
    """The spec of a dataset, with an error that lists the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}. Available: {', '.join(DATASETS)}."
        ) from None


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    return split
