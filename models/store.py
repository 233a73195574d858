"""Activations on disk: (n, d) arrays of any size, read a range of rows at a time, never whole.

A *shard* is one 2-D array in a file: a `.npy` file, a tensor of a `.safetensors` file or an uncompressed member of
an `.npz`, read with `os.preadv` at the offset its header gives. No memory map: the process's memory and address
space hold what it reads, whatever the file's size (a map of a 30 GB file counts 30 GB against RLIMIT_AS). A
compressed `.npz` member is held in memory, so its declared size is bounded first (a small file can hide a huge
array). Labels (n,) and per-row metadata (n, m) sit beside a shard's samples, read the same way.

`Rows` is a split: ranges of a source's rows in a fixed order (a source: shards one after the other). Splitting a file
permutes blocks of consecutive rows (one row a block up to 2^20 rows, so at most 2^20 blocks): the split's
bookkeeping stays a few MB at any size, and reading a training window reads long runs.

A folder of shards has a `manifest.json`:

    {"format": "sparselab-activations", "version": 1, "dtype": "float16", "dimension": 768,
     "train": [{"file": "train-00000.npy", "rows": 100000, "labels": "train-00000.labels.npy",
                "meta": "train-00000.meta.npy"}, ...],
     "test": [...], "val": [...],                      (val optional; labels and meta optional)
     "meta_columns": ["sample", "position"]}           (optional: what each metadata column is)
"""
from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "sparselab-activations"
SUFFIXES = (".npy", ".npz", ".safetensors")
IN_MEMORY_MAX = 1 << 30  # bytes: the most a compressed .npz member (read whole) may declare
SPLIT_BLOCKS = 1 << 20  # a split permutes at most this many blocks of consecutive rows
GAP_BYTES = 1 << 16  # rows this close together are read in one call (the gap read and dropped)
SPAN_BYTES = 64 << 20  # the most one call reads
MAX_LISTED = 8  # names a message lists before "and N more"

# safetensors' dtypes -> numpy's (bfloat16 is read as its 16 bits and widened by `as_float32`)
SAFETENSORS = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8", "I32": "<i4",
               "I16": "<i2", "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}
ITEMSIZE_BF16 = 2


class DataError(RuntimeError):
    """A missing, unreadable or unusable dataset; the message (one line) says what to do. (Defined on the lowest
    floor, where files are read; models.data exports it.)"""


def listed(names, most: int = MAX_LISTED) -> str:
    """'a, b, c' or 'a, b, … and 1,234 more': a one-line message never lists thousands of names."""
    names = list(names)
    head = ", ".join(map(str, names[:most]))
    return head + (f" and {len(names) - most:,} more" if len(names) > most else "") if names else "nothing"


def _dtype(spec: str) -> np.dtype | str:
    return spec if spec == "bfloat16" else np.dtype(spec)


def itemsize(dtype) -> int:
    return ITEMSIZE_BF16 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def dtype_name(dtype) -> str:
    return "bfloat16" if dtype == "bfloat16" else np.dtype(dtype).name


def check_numeric(dtype, where: str) -> None:
    """Samples and labels are real numbers: complex, text, objects and records are refused in one line."""
    if dtype == "bfloat16":
        return
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise DataError(f"{where} holds pickled objects, which are never loaded")
    if np.issubdtype(dt, np.complexfloating):
        raise DataError(f"{where} holds complex values: samples are real numbers (save the real part, or the real "
                        "and imaginary parts side by side)")
    if not (np.issubdtype(dt, np.number) or dt == bool):
        raise DataError(f"{where} holds {dt} values, not numbers")


def as_float32(raw: np.ndarray, dtype) -> np.ndarray:
    """Raw values as float32 (bfloat16's bits widened); a float32 array is returned as it is."""
    if dtype == "bfloat16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw if raw.dtype == np.float32 else raw.astype(np.float32)


@dataclass(frozen=True)
class Shape:
    rows: int
    cols: int  # 1 for a vector (labels)
    dtype: object  # a numpy dtype, or "bfloat16"


class Array:
    """A 2-D (or 1-D) array on disk at a byte offset of a file, or held in memory: rows read by range."""

    def __init__(self, where: str, shape: Shape, path: Path | None = None, offset: int = 0,
                 memory: np.ndarray | None = None):
        self.where, self.shape, self.path, self.offset, self.memory = where, shape, path, offset, memory
        self._fd = None

    @property
    def rows(self) -> int:
        return self.shape.rows

    @property
    def cols(self) -> int:
        return self.shape.cols

    @property
    def dtype(self):
        return self.shape.dtype

    @property
    def row_bytes(self) -> int:
        return self.cols * itemsize(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.rows * self.row_bytes

    def read(self, a: int, b: int) -> np.ndarray:
        """Rows [a, b) as (b − a, cols) of the file's dtype (bfloat16: uint16 bits); 1-D arrays as (b − a,)."""
        a, b = max(a, 0), min(b, self.rows)
        if self.memory is not None:
            return self.memory[a:b]
        storage = np.uint16 if self.dtype == "bfloat16" else self.dtype
        out = np.empty((max(b - a, 0), self.cols), dtype=storage)
        view, start, done = memoryview(out).cast("B"), self.offset + a * self.row_bytes, 0
        if self._fd is None and out.nbytes:
            self._fd = os.open(self.path, os.O_RDONLY)
        while done < out.nbytes:  # one call reads at most ~2 GB
            got = os.preadv(self._fd, [view[done:]], start + done)
            if got <= 0:  # the file shrank since its header was read
                raise DataError(f"{self.where} ended early: rows {a:,}–{b:,} could not be read (the file changed or "
                                "was truncated while in use)")
            done += got
        return out if self._is_2d else out[:, 0]

    _is_2d = True

    def __del__(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass

    def __getstate__(self):  # a file descriptor does not travel to another process
        return {**self.__dict__, "_fd": None}


def _vector(arr: Array) -> Array:
    arr._is_2d = False
    return arr


# -- headers -------------------------------------------------------------------------------------------------


def _npy_header(f, where: str) -> tuple[tuple, bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
        return np.lib.format._read_array_header(f, version)
    except ValueError as e:
        text = str(e).splitlines()[0][:160] if str(e) else "a damaged header"
        raise DataError(f"{where} cannot be read: {text}") from None


def _sized(where: str, shape: tuple, dtype, offset: int, size: int, what: str) -> Shape:
    """The array's shape, after checking that the file holds exactly what its header declares."""
    check_numeric(dtype, where)
    n = int(np.prod(shape)) if shape else 1
    need = n * itemsize(dtype)
    have = size - offset
    if have != need:
        says = f"its header declares {what} {tuple(shape)} {dtype_name(dtype)} ({need:,} bytes)"
        raise DataError(f"{where} is truncated: {says}, the file holds {have:,}" if have < need else
                        f"{where} holds {have - need:,} bytes more than {says}: its header does not describe it")
    if len(shape) == 1:
        return Shape(shape[0], 1, dtype)
    if len(shape) != 2:
        raise DataError(f"{where} holds an array of shape {tuple(shape)}: samples are a 2-D (n, d) array")
    return Shape(shape[0], shape[1], dtype)


def open_npy(path: Path) -> Array:
    where = str(path)
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _npy_header(f, where)
            offset = f.tell()
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"{where} cannot be read: {e.strerror}") from None
    check_numeric(dtype, where)
    s = _sized(where, shape, dtype, offset, size, "an array")
    if fortran and len(shape) == 2 and s.cols > 1:
        if s.rows * s.cols * dtype.itemsize > IN_MEMORY_MAX:
            raise DataError(f"{where} is stored column by column (Fortran order): save it with "
                            "np.save(path, np.ascontiguousarray(x)) to be read by rows")
        memory = np.ascontiguousarray(np.load(path, allow_pickle=False))
        return Array(where, s, memory=memory)
    arr = Array(where, s, path, offset)
    return arr if len(shape) == 2 else _vector(arr)


def _safetensors_header(path: Path) -> tuple[dict, int]:
    where = str(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise DataError(f"{where} cannot be read: not a safetensors file (too short)")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 << 20):
                raise DataError(f"{where} cannot be read: not a safetensors file (its header length is {n:,})")
            header = json.loads(f.read(n))
    except OSError as e:
        raise DataError(f"{where} cannot be read: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(f"{where} cannot be read: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise DataError(f"{where} cannot be read: not a safetensors file")
    header.pop("__metadata__", None)
    return header, 8 + n


def open_safetensors(path: Path, name: str, entry: dict, start: int, size: int) -> Array:
    where = f"{path} ({name})"
    try:
        dtype = _dtype(SAFETENSORS[entry["dtype"]])
        shape = tuple(int(v) for v in entry["shape"])
        a, b = (int(v) for v in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        kind = entry.get("dtype") if isinstance(entry, dict) else None
        raise DataError(f"{where} cannot be read: " + (f"{kind} values are not read (floats, integers or bool)"
                                                        if kind else "a damaged tensor entry")) from None
    if not 0 <= a <= b <= size - start:
        raise DataError(f"{where} is truncated: its header places it at bytes {a:,}–{b:,} of {size - start:,}")
    s = _sized(where, shape, dtype, start + a, start + b, "a tensor")
    arr = Array(where, s, path, start + a)
    return arr if len(shape) == 2 else _vector(arr)


def _npz_member(path: Path, z: zipfile.ZipFile, name: str) -> Array:
    info = z.getinfo(name)
    where = f"{path} ({name.removesuffix('.npy')})"
    with z.open(info) as f:
        shape, fortran, dtype = _npy_header(f, where)
        header = f.tell() if info.compress_type == zipfile.ZIP_STORED else None
        check_numeric(dtype, where)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if info.compress_type == zipfile.ZIP_STORED and not fortran:
            # an uncompressed member (np.savez): its bytes lie in the file, read like a .npy
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
                start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + \
                    int.from_bytes(local[28:30], "little")
            if info.file_size - header != nbytes:
                raise DataError(f"{where} is truncated: its header declares {tuple(shape)} {dtype} ({nbytes:,} "
                                f"bytes), the member holds {info.file_size - header:,}")
            s = _sized(where, shape, dtype, 0, nbytes, "an array")
            arr = Array(where, s, path, start + header)
            return arr if len(shape) == 2 else _vector(arr)
        if nbytes > IN_MEMORY_MAX:
            raise DataError(f"{where} would decompress to {nbytes / 2**30:.1f} GiB, read whole into memory: save it "
                            f"as a .npy file or a folder of shards (read a block at a time), or with np.savez "
                            f"(uncompressed)")
        data = f.read(nbytes + 1)
    if len(data) != nbytes:
        raise DataError(f"{where} is truncated: its header declares {tuple(shape)} {dtype} ({nbytes:,} bytes), "
                        f"it decompresses to {len(data):,}")
    memory = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    s = _sized(where, shape, dtype, 0, nbytes, "an array")
    arr = Array(where, s, memory=np.ascontiguousarray(memory))
    return arr if len(shape) == 2 else _vector(arr)


def regular(path: Path, what: str = "--vectors") -> Path:
    """A regular file or a folder: a FIFO, a device or a socket would block or never end a read."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{what} {path}: no such file or folder") from None
    except OSError as e:
        raise DataError(f"{what} {path}: {e.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{what} {path} is not a regular file or a folder (a pipe or a device is never read)")
    return path


@dataclass
class Shard:
    """One file's samples, with their labels and per-row metadata where it has them."""
    x: Array
    y: Array | None = None
    meta: Array | None = None
    others: tuple[str, ...] = ()  # the file's arrays read as neither (what a message about its labels names)

    def __post_init__(self):
        for part, what in ((self.y, "labels"), (self.meta, "metadata rows")):
            if part is not None and part.rows != self.x.rows:
                raise DataError(f"{part.where}: {part.rows:,} {what} for {self.x.rows:,} samples: one a sample")
        if self.y is not None:
            if self.y._is_2d or not (self.y.dtype != "bfloat16" and np.issubdtype(np.dtype(self.y.dtype), np.integer)):
                raise DataError(f"{self.y.where}: labels must be integers, one a sample")
        if self.meta is not None and self.meta.dtype != "bfloat16" and not np.issubdtype(self.meta.dtype, np.integer):
            raise DataError(f"{self.meta.where}: per-row metadata must be integers (sample, position, …)")


def open_file(path: Path, labels_key: str = "labels") -> Shard:
    """A file's samples (`x`, or its only array) and labels (`labels_key`), without reading them."""
    suffix = path.suffix
    if suffix == ".npy":
        return Shard(open_npy(path))
    if suffix == ".safetensors":
        header, start = _safetensors_header(path)
        size = path.stat().st_size
        names = list(header)
        pick = lambda k: None if k not in header else open_safetensors(path, k, header[k], start, size)  # noqa: E731
    elif suffix == ".npz":
        try:
            z = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"{path} cannot be read: {str(e).splitlines()[0][:160] if str(e) else 'not a zip file'}") \
                from None
        with z:
            members = {n.removesuffix(".npy"): n for n in z.namelist()}
            names = list(members)
            try:
                x_key = "x" if "x" in members else (names[0] if len(names) == 1 else None)
                x = None if x_key is None else _npz_member(path, z, members[x_key])
                y = None if labels_key not in members else _npz_member(path, z, members[labels_key])
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
                if isinstance(e, DataError):
                    raise
                raise DataError(f"{path} cannot be read: {type(e).__name__}: {str(e).splitlines()[0][:160]}") from None
        if x is None:
            raise DataError(f"{path} holds {listed(names)}: name the samples 'x' (and labels '{labels_key}')")
        return Shard(x, y, others=tuple(n for n in names if n not in (x_key, labels_key)))
    else:
        raise DataError(f"{path}: a vectors file is {', '.join(SUFFIXES)}, not {suffix or 'no suffix'}")
    x_key = "x" if "x" in names else (names[0] if len(names) == 1 else None)
    if x_key is None:
        raise DataError(f"{path} holds {listed(names)}: name the samples 'x' (and labels '{labels_key}')")
    return Shard(pick(x_key), pick(labels_key) if labels_key != x_key else None,
                 others=tuple(n for n in names if n not in (x_key, labels_key)))


# -- sources and rows ------------------------------------------------------------------------------------------


class Source:
    """Shards one after the other: global row g of the source."""

    def __init__(self, shards: list[Shard], name: str):
        self.shards, self.name = shards, name
        self.note = ""  # how it was read, where a user may have meant otherwise (a domain's words)
        self.bounds = np.cumsum([0] + [s.x.rows for s in shards])
        dims = {s.x.cols for s in shards}
        if len(dims) > 1:
            raise DataError(f"{name}: its shards differ in size ({sorted(dims)} values a sample)")
        self.dim = shards[0].x.cols
        self.labelled = shards[0].y is not None
        self.meta_cols = 0 if shards[0].meta is None else shards[0].meta.cols
        if any((s.y is not None) != self.labelled for s in shards):
            raise DataError(f"{name}: some of its files have labels and some not: give labels for all or none")
        if any((0 if s.meta is None else s.meta.cols) != self.meta_cols for s in shards):
            raise DataError(f"{name}: its shards' metadata differ (some have none, or other columns): give the same "
                            "columns for all or none")

    def __len__(self) -> int:
        return int(self.bounds[-1])

    @property
    def nbytes(self) -> int:
        return sum(s.x.nbytes for s in self.shards)

    def locate(self, g: int) -> tuple[str, int]:
        """(the file, its row) that holds global row g: what a message names."""
        k = int(np.searchsorted(self.bounds, g, side="right")) - 1
        return self.shards[k].x.where, int(g - self.bounds[k])

    def read_span(self, a: int, b: int):
        """Global rows [a, b), crossing shards: (raw x, y or None, meta or None)."""
        xs, ys, ms = [], [], []
        k = int(np.searchsorted(self.bounds, a, side="right")) - 1
        while a < b:
            s, lo = self.shards[k], int(self.bounds[k])
            hi = min(b, int(self.bounds[k + 1]))
            xs.append(s.x.read(a - lo, hi - lo))
            if s.y is not None:
                ys.append(s.y.read(a - lo, hi - lo))
            if s.meta is not None:
                ms.append(s.meta.read(a - lo, hi - lo))
            a, k = hi, k + 1
        join = lambda parts: None if not parts else (parts[0] if len(parts) == 1 else np.concatenate(parts))  # noqa: E731
        return join(xs), join(ys), join(ms)

    def gather(self, g: np.ndarray):
        """Global rows `g` (any order), read in runs of nearby rows: (raw x, y, meta) in the order of `g`."""
        if len(g) == 0:
            return self.read_span(0, 0)
        order = np.argsort(g, kind="stable")
        gs = g[order]
        row_bytes = self.dim * itemsize(self.shards[0].x.dtype)
        gap = max(1, GAP_BYTES // max(row_bytes, 1))
        shard_of = np.searchsorted(self.bounds, gs, side="right") - 1
        breaks = np.flatnonzero((np.diff(gs) > gap) | (np.diff(shard_of) != 0)) + 1
        x = y = meta = None
        for i, j in _capped(gs, np.r_[0, breaks], np.r_[breaks, len(gs)], max(1, SPAN_BYTES // max(row_bytes, 1))):
            a, b = int(gs[i]), int(gs[j - 1]) + 1
            xs, ys, ms = self.read_span(a, b)
            pick = gs[i:j] - a
            dest = order[i:j]
            if x is None:
                x = np.empty((len(g), xs.shape[1]), dtype=xs.dtype)
                y = None if ys is None else np.empty(len(g), dtype=ys.dtype)
                meta = None if ms is None else np.empty((len(g), ms.shape[1]), dtype=ms.dtype)
            x[dest] = xs[pick]
            if y is not None:
                y[dest] = ys[pick]
            if meta is not None:
                meta[dest] = ms[pick]
        return x, y, meta


def _capped(gs: np.ndarray, starts: np.ndarray, stops: np.ndarray, most: int):
    """Runs [i, j) of sorted rows `gs`, each cut where it would span more than `most` rows."""
    for i, j in zip(starts.tolist(), stops.tolist()):
        while gs[j - 1] - gs[i] >= most:
            cut = i + int(np.searchsorted(gs[i:j], gs[i] + most, side="left"))
            yield i, cut
            i = cut
        yield i, j


@dataclass(frozen=True)
class Piece:
    source: Source
    starts: np.ndarray  # (k,) global row where each range begins
    lengths: np.ndarray  # (k,) rows in each range

    def __len__(self) -> int:
        return int(self.lengths.sum())


@dataclass(frozen=True)
class Rows:
    """A split: ranges of sources' rows in a fixed order; position i is its i-th row."""
    pieces: tuple[Piece, ...]
    ends: np.ndarray = field(init=False, repr=False)  # cumulative rows over all ranges

    def __post_init__(self):
        lengths = np.concatenate([p.lengths for p in self.pieces]) if self.pieces else np.zeros(0, np.int64)
        object.__setattr__(self, "ends", np.cumsum(lengths, dtype=np.int64))

    @classmethod
    def whole(cls, source: Source) -> "Rows":
        return cls((Piece(source, np.zeros(1, np.int64), np.array([len(source)], np.int64)),))

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def dim(self) -> int:
        return self.pieces[0].source.dim

    @property
    def dtype(self):
        return self.pieces[0].source.shards[0].x.dtype

    @property
    def labelled(self) -> bool:
        return self.pieces[0].source.labelled

    @property
    def meta_cols(self) -> int:
        return self.pieces[0].source.meta_cols

    @property
    def name(self) -> str:
        return self.pieces[0].source.name

    def _ranges(self):
        """(piece, range index offset, range count) per piece."""
        k = 0
        for p in self.pieces:
            yield p, k, len(p.starts)
            k += len(p.starts)

    def globals(self, positions: np.ndarray) -> list[tuple[Piece, np.ndarray, np.ndarray]]:
        """Positions -> (piece, the positions' indices into `positions`, their global rows) per piece."""
        positions = np.asarray(positions, dtype=np.int64)
        r = np.searchsorted(self.ends, positions, side="right")  # the range each position is in
        begin = np.r_[0, self.ends[:-1]]
        out = []
        for p, k0, count in self._ranges():
            mine = np.flatnonzero((r >= k0) & (r < k0 + count))
            if len(mine):
                local = r[mine] - k0
                out.append((p, mine, p.starts[local] + positions[mine] - begin[r[mine]]))
        return out

    def take(self, positions: np.ndarray):
        """Rows at these positions: (raw x, y or None, meta or None)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= len(self)):
            raise IndexError(f"positions out of 0..{len(self) - 1}")
        x = y = meta = None
        for p, idx, g in self.globals(positions):
            xs, ys, ms = p.source.gather(g)
            if x is None:
                x = np.empty((len(positions), xs.shape[1]), dtype=xs.dtype)
                y = None if ys is None else np.empty(len(positions), dtype=ys.dtype)
                meta = None if ms is None else np.empty((len(positions), ms.shape[1]), dtype=ms.dtype)
            x[idx] = xs
            if y is not None:
                y[idx] = ys
            if meta is not None:
                meta[idx] = ms
        if x is None:
            src = self.pieces[0].source
            x = np.empty((0, src.dim), dtype=np.uint16 if self.dtype == "bfloat16" else self.dtype)
        return x, y, meta

    def read(self, a: int, b: int):
        """Positions [a, b)."""
        return self.take(np.arange(max(a, 0), min(b, len(self)), dtype=np.int64))

    def locate(self, position: int) -> tuple[str, int]:
        """(file, row in that file) of a position."""
        ((p, _, g),) = self.globals(np.array([position]))
        return p.source.locate(int(g[0]))

    def head(self, n: int | None) -> "Rows":
        """The first n positions (a view: nothing is read)."""
        if n is None or n >= len(self):
            return self
        pieces, left = [], n
        for p in self.pieces:
            if left <= 0:
                break
            ends = np.cumsum(p.lengths)
            k = int(np.searchsorted(ends, left, side="left"))
            lengths = p.lengths[:k + 1].copy()
            lengths[-1] -= int(ends[k]) - left if k < len(ends) else 0
            pieces.append(Piece(p.source, p.starts[:k + 1], lengths))
            left -= int(lengths.sum())
        return Rows(tuple(pieces))

    def __add__(self, other: "Rows") -> "Rows":
        if other.dim != self.dim:
            raise DataError(f"{other.name}: {other.dim} values a sample, {self.name} has {self.dim}")
        return Rows(self.pieces + other.pieces)

    def split(self, fractions: tuple[float, ...], seed: int) -> list["Rows"]:
        """Parts of these rows by `fractions`, blocks of consecutive rows drawn at random (`seed`). Up to
        SPLIT_BLOCKS rows a block is one row: the same parts as numpy's permutation of the rows."""
        (p,) = self.pieces  # a whole source
        n = len(self)
        size = max(1, math.ceil(n / SPLIT_BLOCKS))
        blocks = math.ceil(n / size)
        order = np.random.default_rng(seed).permutation(blocks)
        cuts = np.cumsum([int(round(f * blocks)) for f in fractions])[:-1]
        out = []
        for part in np.split(order, cuts):
            starts = part.astype(np.int64) * size
            out.append(Rows((Piece(p.source, starts, np.minimum(size, n - starts)),)))
        return out

    def spread(self, k: int, seed: int) -> np.ndarray:
        """About k sorted positions from all over these rows: runs of consecutive rows (cheap to read) at random
        places. All positions when k covers them."""
        n = len(self)
        if k >= n:
            return np.arange(n, dtype=np.int64)
        run = max(1, (GAP_BYTES // max(self.dim * 4, 1)), math.ceil(k / SPLIT_BLOCKS))
        runs = math.ceil(n / run)
        picked = np.sort(np.random.default_rng(seed).choice(runs, min(runs, math.ceil(k / run)), replace=False))
        pos = (picked[:, None] * run + np.arange(run)[None]).ravel()
        return pos[pos < n][:k]

    def non_finite(self, limit_bytes: int | None = None, seed: int = 0) -> tuple[int, tuple[str, int] | None]:
        """(rows holding NaN or ±inf, the first of them in file order as (file, row)) over every row, or over
        `limit_bytes` of samples spread over them."""
        step = max(1, (64 << 20) // max(self.dim * 4, 1))
        pos = (np.arange(len(self), dtype=np.int64) if limit_bytes is None else
               self.spread(max(1, limit_bytes // max(self.dim * 4, 1)), seed))
        bad, first = 0, None
        for a in range(0, len(pos), step):
            x = as_float32(self.take(pos[a:a + step])[0], self.dtype)
            rows = np.flatnonzero(~np.isfinite(x).all(1))
            if len(rows):
                at = min(self.locate(int(pos[a + r])) for r in rows[:1000])
                first = at if first is None else min(first, at)
            bad += len(rows)
        return bad, first


# -- a folder of shards ----------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Source]:
    """A shard folder's splits ("train", "test", and "val" where it has one) as sources, every shard's header
    checked against the manifest: dtype, dimension and rows."""
    path = folder / MANIFEST
    try:
        m = json.loads(path.read_text())
    except OSError as e:
        raise DataError(f"{path} cannot be read: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not JSON: {str(e)[:120]}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise DataError(f"{path} is not a sparselab activations manifest (\"format\": \"{FORMAT}\")")
    try:
        dim, dtype = int(m["dimension"]), m["dtype"]
        want = _dtype("bfloat16" if dtype == "bfloat16" else np.dtype(dtype).str)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path} needs a \"dimension\" (an integer) and a \"dtype\" (e.g. \"float16\")") from None
    out = {}
    for part in ("train", "val", "test"):
        entries = m.get(part)
        if entries is None:
            continue
        if not isinstance(entries, list) or not entries:
            raise DataError(f"{path}: \"{part}\" is a list of shards ({{\"file\": ..., \"rows\": ...}})")
        shards = []
        for k, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("file"), str):
                raise DataError(f"{path}: {part} shard {k} needs a \"file\"")
            shard = _manifest_shard(folder, e, part, k)
            x = shard.x
            if x.cols != dim:
                raise DataError(f"{x.where} has {x.cols} values a sample; the manifest says {dim}")
            if dtype_name(x.dtype) != dtype_name(want):
                raise DataError(f"{x.where} holds {dtype_name(x.dtype)}; the manifest says {dtype_name(want)}")
            if "rows" in e and e["rows"] != x.rows:
                raise DataError(f"{x.where} holds {x.rows:,} rows; the manifest says {e['rows']}")
            shards.append(shard)
        out[part] = Source(shards, f"{folder} ({part})")
    for part in ("train", "test"):
        if part not in out:
            raise DataError(f"{path} lists no \"{part}\" shards")
    return out


def _inside(folder: Path, name: str, path: Path) -> Path:
    p = (folder / name).resolve()
    if not p.is_relative_to(folder.resolve()):
        raise DataError(f"{path}: {name!r} is outside the folder")
    return regular(p, "a shard")


def _manifest_shard(folder: Path, e: dict, part: str, k: int) -> Shard:
    where = folder / MANIFEST
    x = _open_array(_inside(folder, e["file"], where))
    y = None if e.get("labels") is None else _open_array(_inside(folder, str(e["labels"]), where))
    meta = None if e.get("meta") is None else _open_array(_inside(folder, str(e["meta"]), where))
    if not x._is_2d:
        raise DataError(f"{x.where} holds a vector: samples are a 2-D (n, d) array")
    return Shard(x, y, meta)


def _open_array(path: Path) -> Array:
    """A shard's one array: a .npy file, or the only (or `x`) tensor of a .safetensors file."""
    if path.suffix == ".safetensors":
        return open_file(path).x
    if path.suffix != ".npy":
        raise DataError(f"{path}: a shard is a .npy or .safetensors file")
    return open_npy(path)
