"""Rows and patches of natural photographs for `convemerge --inputs data:FILE.npy`.

The photographs are the ones bundled with scikit-image (`skimage.data`: camera, astronaut,
coffee, chelsea, rocket), so this runs offline once scikit-image is installed; their
sources and licences are listed in skimage/data/README.txt inside the installed package.

Each input is a crop at a uniformly random position of a uniformly random photograph
(grey levels: luminance of the RGB photographs, intensities in [0, 1]), mirrored left-right
with probability 1/2 (`--no-flip` turns that off): a 1-D row of L pixels (`--dim 1`) or an
L x L patch (`--dim 2`, flattened row-major, matching `--L L --dim 2`). Random positions make
the ensemble close to translation-invariant, but the crops are not periodic: use
`--stationarity raw` (or `circulant` knowingly). Standardisation (`--standardise`):
`pixel` (default) subtracts each pixel's mean over the data set and divides by its standard
deviation; `patch` also removes each crop's own mean first (heavier tails, the usual
whitening-free preprocessing of sparse-coding studies); `none` keeps grey levels.

Output: an (N, D) float64 C-order .npy, written to a temporary sibling and renamed.
The pooled skewness and excess kurtosis are printed on stderr.

Your own photographs: `--image-files a.png b.jpg ...` (with `--images ''` to leave the bundled
ones out); each is converted to grey levels in [0, 1] the same way.

Usage:
  .venv/bin/python notebooks-export/make_patches.py --L 40 --n 100000 --seed 1 --out rows.npy
  .venv/bin/python notebooks-export/make_patches.py --images '' --image-files mine/*.png --L 40 --out mine.npy
  .venv/bin/python notebooks-export/make_patches.py --L 12 --dim 2 --n 50000 --out patches.npy
"""

import argparse
import os
import sys
import tempfile

import numpy as np

PHOTOGRAPHS = ["camera", "astronaut", "coffee", "chelsea", "rocket"]


def fail(flag, message):
    print(f"error: {flag}: {message}", file=sys.stderr)
    sys.exit(2)


def grey(image, source, flag):
    """Grey levels in [0, 1]: luminance of RGB(A), integer images scaled by their type's range."""
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float
    if image.ndim == 3 and image.shape[2] == 4:
        image = rgba2rgb(image)
    if image.ndim == 3:
        image = rgb2gray(image)
    if image.ndim != 2:
        fail(flag, f"{source} is not a 2-D grey or RGB image (shape {image.shape})")
    return np.asarray(img_as_float(image), dtype=np.float64)


def grey_photographs(names, files):
    try:
        from skimage import data, io
    except ImportError:
        fail("--images", "needs scikit-image (make study-inputs installs it into .venv, or pip install scikit-image)")
    photographs = []
    for name in names:
        if name not in PHOTOGRAPHS:
            fail("--images", f"expected names from {','.join(PHOTOGRAPHS)}, got '{name}'")
        photographs.append(grey(getattr(data, name)(), name, "--images"))
    for path in files:
        try:
            image = io.imread(path)
        except Exception as error:  # any reader failure is one line about the flag
            fail("--image-files", f"cannot read '{path}': {error}")
        photographs.append(grey(image, path, "--image-files"))
    if not photographs:
        fail("--images", "no photographs: give --images and/or --image-files")
    return photographs


def crops(photographs, length, dim, count, flip, rng):
    height = length if dim == 2 else 1
    for photograph in photographs:
        if photograph.shape[0] < height or photograph.shape[1] < length:
            fail("--L", f"a crop of {length} pixels does not fit in a {photograph.shape} photograph")
    out = np.empty((count, length ** dim))
    which = rng.integers(len(photographs), size=count)
    mirrored = rng.random(count) < 0.5 if flip else np.zeros(count, dtype=bool)
    for n in range(count):
        photograph = photographs[which[n]]
        top = rng.integers(photograph.shape[0] - height + 1)
        left = rng.integers(photograph.shape[1] - length + 1)
        crop = photograph[top:top + height, left:left + length]
        if mirrored[n]:
            crop = crop[:, ::-1]
        out[n] = crop.reshape(-1)
    return out


def standardise(rows, mode):
    if mode == "patch":
        rows = rows - rows.mean(axis=1, keepdims=True)
    if mode in ("pixel", "patch"):
        spread = rows.std(axis=0)
        if np.any(spread == 0):
            fail("--standardise", "a pixel is constant over the data set; use --standardise none")
        rows = (rows - rows.mean(axis=0)) / spread
    return rows


def pooled_moments(rows):
    x = (rows - rows.mean(axis=0)).reshape(-1)
    variance = np.mean(x ** 2)
    return np.mean(x ** 3) / variance ** 1.5, np.mean(x ** 4) / variance ** 2 - 3


def write_atomically(path, array):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, np.ascontiguousarray(array, dtype="<f8"))
        os.replace(staging, path)
    except BaseException:
        os.unlink(staging)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--L", type=int, default=40, help="pixels per side of a crop (>= 2)")
    parser.add_argument("--dim", type=int, default=1, choices=[1, 2], help="1: rows of L pixels, 2: L x L patches")
    parser.add_argument("--n", type=int, default=100000, help="number of crops N (1 ... 1e7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crop positions and flips")
    parser.add_argument("--images", default=",".join(PHOTOGRAPHS),
                        help="comma-separated skimage.data photographs ('' for none)")
    parser.add_argument("--image-files", nargs="*", default=[],
                        help="your own image files (PNG, JPEG, TIFF: anything skimage.io.imread reads)")
    parser.add_argument("--standardise", choices=["pixel", "patch", "none"], default="pixel")
    parser.add_argument("--no-flip", action="store_true", help="no random left-right mirroring")
    parser.add_argument("--out", required=True, help="output .npy path")
    args = parser.parse_args(argv)
    if args.L < 2:
        fail("--L", f"must be >= 2, got {args.L}")
    if not 1 <= args.n <= 10_000_000:
        fail("--n", f"must be in 1 ... 10000000, got {args.n}")
    if args.n * args.L ** args.dim > 2 ** 31:
        fail("--n", f"N x D = {args.n * args.L ** args.dim} values is over 2^31 (16 GiB); choose a smaller N")
    rng = np.random.default_rng(args.seed)
    photographs = grey_photographs([n for n in args.images.split(",") if n], args.image_files)
    rows = standardise(crops(photographs, args.L, args.dim, args.n, not args.no_flip, rng), args.standardise)
    write_atomically(args.out, rows)
    skewness, kurtosis = pooled_moments(rows)
    print(f"{args.out}: {rows.shape[0]} x {rows.shape[1]} float64; pooled skewness {skewness:.3f}, "
          f"excess kurtosis {kurtosis:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
