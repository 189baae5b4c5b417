/* ROW tokens written in C: the compiled counterpart of the function rows.py generates, for the
 * installs that could build it (hatch_build.py; rows.py falls back to its generated Python).
 *
 * encode(rows, kinds, others) -> bytes
 *   rows    a list of tuples, one value per column, in the store's form (rows.py's docstring);
 *   kinds   one byte per column, its type (the KIND_ constants below, named in rows.py's _KINDS);
 *   others  a tuple with, for each column of kind 'o', the value-by-value encoder to call (None for
 *           the others).
 *
 * It writes exactly the bytes the generated Python does, and gives up (raises Unusual, a ValueError)
 * wherever that gives up: any value outside what the store gives each type (a number out of range, a
 * float where whole seconds are expected, a value of another type, a GUID in another spelling, a text
 * past its size or holding a lone surrogate). rows.py then encodes the chunk value by value, which
 * converts what SQL Server would and raises its error for the rest. Everything it writes goes through
 * one growable buffer (Out), each write checked against its capacity.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define KIND_INT 'i'
#define KIND_BIGINT 'q'
#define KIND_SMALLINT 'h'
#define KIND_TINYINT 'B'
#define KIND_BIT '?'
#define KIND_FLOAT 'd'
#define KIND_REAL 'f'
#define KIND_DATETIME 'T'
#define KIND_DATE 'D'
#define KIND_GUID 'g'
#define KIND_NVARCHAR 'n'
#define KIND_NVARCHAR_MAX 'm'
#define KIND_OTHER 'o'

/* As encoders.py: days from 1900-01-01 and from 0001-01-01 to 1970-01-01; a datetime's day range
 * (1753-01-01 .. 9999-12-31) counted from 1900-01-01, a date's upper end from 0001-01-01. */
#define DAYS_1900 25567
#define DAYS_0001 719162
#define MIN_DATETIME_DAY (-53690)
#define MAX_DATETIME_DAY 2958463
#define MAX_DATE_DAY 3652058
#define NVARCHAR_BYTES 8000
#define PLP_CHUNK (1 << 20)

static PyObject *Unusual;

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Out;

/* Room for `more` bytes; 0 with MemoryError set when there is none. */
static int out_reserve(Out *out, Py_ssize_t more) {
    if (out->capacity - out->size >= more) {
        return 1;
    }
    if (more > PY_SSIZE_T_MAX / 2 - out->size) {
        PyErr_NoMemory();
        return 0;
    }
    Py_ssize_t capacity = out->capacity * 2;
    if (capacity < out->size + more) {
        capacity = out->size + more;
    }
    char *data = PyMem_Realloc(out->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    out->data = data;
    out->capacity = capacity;
    return 1;
}

/* Little-endian writes into reserved room. */
static inline void put_u8(Out *out, unsigned value) { out->data[out->size++] = (char)(value & 0xFF); }

static inline void put_le(Out *out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; i++) {
        out->data[out->size++] = (char)((value >> (8 * i)) & 0xFF);
    }
}

static int unusual(void) {
    PyErr_SetNone(Unusual);
    return 0;
}

/* An exact int (never a bool or a subclass) within [low, high]; 0 with Unusual set otherwise. */
static int whole_number(PyObject *value, long long low, long long high, long long *result) {
    if (!PyLong_CheckExact(value)) {
        return unusual();
    }
    int overflow = 0;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (number == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return unusual();
    }
    if (number < low || number > high) {
        return unusual();
    }
    *result = number;
    return 1;
}

static inline long long floor_div(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

static int write_int(Out *out, PyObject *value, int bytes, long long low, long long high) {
    long long number;
    if (!out_reserve(out, 1 + bytes)) {
        return 0;
    }
    if (value == Py_None) {
        put_u8(out, 0);
        return 1;
    }
    if (!whole_number(value, low, high, &number)) {
        return 0;
    }
    put_u8(out, (unsigned)bytes);
    put_le(out, (uint64_t)number, bytes);
    return 1;
}

static int write_bit(Out *out, PyObject *value) {
    if (!out_reserve(out, 2)) {
        return 0;
    }
    if (value == Py_None) {
        put_u8(out, 0);
        return 1;
    }
    int truth = PyObject_IsTrue(value);
    if (truth < 0) {
        return 0;
    }
    put_u8(out, 1);
    put_u8(out, truth ? 1 : 0);
    return 1;
}

static int write_float(Out *out, PyObject *value, int bytes) {
    if (!out_reserve(out, 1 + bytes)) {
        return 0;
    }
    if (value == Py_None) {
        put_u8(out, 0);
        return 1;
    }
    double number;
    if (PyFloat_CheckExact(value)) {
        number = PyFloat_AS_DOUBLE(value);
    } else if (PyLong_CheckExact(value)) { /* as float(value): correctly rounded */
        number = PyLong_AsDouble(value);
        if (number == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return unusual();
        }
    } else {
        return unusual();
    }
    if (isnan(number)) {
        return unusual();
    }
    put_u8(out, (unsigned)bytes);
    if (bytes == 8) {
        uint64_t bits;
        memcpy(&bits, &number, 8);
        put_le(out, bits, 8);
    } else {
        float narrow = (float)number;
        if (isinf(narrow) && !isinf(number)) { /* too large for real: struct's OverflowError */
            return unusual();
        }
        uint32_t bits;
        memcpy(&bits, &narrow, 4);
        put_le(out, bits, 4);
    }
    return 1;
}

/* Epoch seconds (an exact int) as datetime's day since 1900-01-01 and 1/300 s ticks since midnight,
 * or as date's day since 0001-01-01 in 3 bytes. */
static int write_day(Out *out, PyObject *value, int is_date) {
    long long seconds;
    if (!out_reserve(out, 9)) {
        return 0;
    }
    if (value == Py_None) {
        put_u8(out, 0);
        return 1;
    }
    /* far past either end of both ranges, and far from overflowing the arithmetic below */
    if (!whole_number(value, -(1LL << 50), 1LL << 50, &seconds)) {
        return 0;
    }
    long long days = floor_div(seconds, 86400);
    long long second_of_day = seconds - days * 86400;
    if (is_date) {
        days += DAYS_0001;
        if (days < 0 || days > MAX_DATE_DAY) {
            return unusual();
        }
        put_u8(out, 3);
        put_le(out, (uint64_t)days, 3);
        return 1;
    }
    days += DAYS_1900;
    if (days < MIN_DATETIME_DAY || days > MAX_DATETIME_DAY) {
        return unusual();
    }
    put_u8(out, 8);
    put_le(out, (uint64_t)(uint32_t)(int32_t)days, 4);
    put_le(out, (uint64_t)(second_of_day * 300), 4);
    return 1;
}

static inline int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A GUID's canonical 8-4-4-4-12 text as its 16 wire bytes: the first three groups little-endian
 * (uuid.UUID(text).bytes_le). Hex digits of either case, as binascii reads them. */
static int write_guid(Out *out, PyObject *value) {
    /* where each of the 16 bytes' two digits start in the text, in wire order */
    static const int at[16] = {6, 4, 2, 0, 11, 9, 16, 14, 19, 21, 24, 26, 28, 30, 32, 34};
    if (!out_reserve(out, 17)) {
        return 0;
    }
    if (value == Py_None) {
        put_u8(out, 0);
        return 1;
    }
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_COMPACT_ASCII(value) || PyUnicode_GET_LENGTH(value) != 36) {
        return unusual();
    }
    const unsigned char *text = (const unsigned char *)PyUnicode_DATA(value);
    if (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
        return unusual();
    }
    put_u8(out, 16);
    for (int i = 0; i < 16; i++) {
        int high = hex_digit(text[at[i]]), low = hex_digit(text[at[i] + 1]);
        if (high < 0 || low < 0) {
            return unusual();
        }
        put_u8(out, (unsigned)(high * 16 + low));
    }
    return 1;
}

/* The UTF-16LE bytes of a str, counted; -1 with Unusual set for a lone surrogate (Python's
 * utf-16 codec refuses it). */
static Py_ssize_t utf16_size(PyObject *text) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        return length * 2;
    }
    Py_ssize_t units = length;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) {
            unusual();
            return -1;
        }
        if (c > 0xFFFF) {
            units++;
        }
    }
    return units * 2;
}

/* Writes a str's UTF-16LE (its size counted by utf16_size) into reserved room. */
static void put_utf16(Out *out, PyObject *text) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    unsigned char *to = (unsigned char *)out->data + out->size;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *from = (const Py_UCS1 *)data;
        for (Py_ssize_t i = 0; i < length; i++) {
            *to++ = from[i];
            *to++ = 0;
        }
    } else {
        for (Py_ssize_t i = 0; i < length; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c > 0xFFFF) {
                c -= 0x10000;
                Py_UCS4 lead = 0xD800 + (c >> 10), trail = 0xDC00 + (c & 0x3FF);
                *to++ = (unsigned char)(lead & 0xFF);
                *to++ = (unsigned char)(lead >> 8);
                c = trail;
            }
            *to++ = (unsigned char)(c & 0xFF);
            *to++ = (unsigned char)(c >> 8);
        }
    }
    out->size = (Py_ssize_t)((char *)to - out->data);
}

/* nvarchar(n): its byte length (2 bytes) then its UTF-16LE, at most NVARCHAR_BYTES; NULL is 0xFFFF.
 * nvarchar(max) as PLP: the total length (8 bytes), one chunk (its length, its UTF-16LE; none for an
 * empty text), the terminator; NULL is eight 0xFF. Past PLP_CHUNK bytes the text needs several chunks:
 * the value-by-value encoder cuts them. */
static int write_text(Out *out, PyObject *value, int is_max) {
    if (value == Py_None) {
        if (!out_reserve(out, 8)) {
            return 0;
        }
        put_le(out, UINT64_MAX, is_max ? 8 : 2);
        return 1;
    }
    if (!PyUnicode_CheckExact(value)) {
        return unusual();
    }
    Py_ssize_t size = utf16_size(value);
    if (size < 0) {
        return 0;
    }
    if (size > (is_max ? PLP_CHUNK : NVARCHAR_BYTES)) {
        return unusual();
    }
    if (!out_reserve(out, size + 16)) {
        return 0;
    }
    if (!is_max) {
        put_le(out, (uint64_t)size, 2);
    } else {
        put_le(out, (uint64_t)size, 8);
        if (size) {
            put_le(out, (uint64_t)size, 4);
        }
    }
    put_utf16(out, value);
    if (is_max) {
        put_le(out, 0, 4);
    }
    return 1;
}

/* A column of another type: its value-by-value encoder's bytes. */
static int write_other(Out *out, PyObject *value, PyObject *encode) {
    PyObject *written = PyObject_CallOneArg(encode, value);
    if (written == NULL) {
        return 0;
    }
    if (!PyBytes_Check(written)) {
        Py_DECREF(written);
        PyErr_SetString(PyExc_TypeError, "a value-by-value encoder returned something other than bytes");
        return 0;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(written);
    int ok = out_reserve(out, size);
    if (ok) {
        memcpy(out->data + out->size, PyBytes_AS_STRING(written), (size_t)size);
        out->size += size;
    }
    Py_DECREF(written);
    return ok;
}

static int write_value(Out *out, char kind, PyObject *value, PyObject *other) {
    switch (kind) {
    case KIND_INT: return write_int(out, value, 4, INT32_MIN, INT32_MAX);
    case KIND_BIGINT: return write_int(out, value, 8, INT64_MIN, INT64_MAX);
    case KIND_SMALLINT: return write_int(out, value, 2, INT16_MIN, INT16_MAX);
    case KIND_TINYINT: return write_int(out, value, 1, 0, 255);
    case KIND_BIT: return write_bit(out, value);
    case KIND_FLOAT: return write_float(out, value, 8);
    case KIND_REAL: return write_float(out, value, 4);
    case KIND_DATETIME: return write_day(out, value, 0);
    case KIND_DATE: return write_day(out, value, 1);
    case KIND_GUID: return write_guid(out, value);
    case KIND_NVARCHAR: return write_text(out, value, 0);
    case KIND_NVARCHAR_MAX: return write_text(out, value, 1);
    case KIND_OTHER: return write_other(out, value, other);
    default:
        PyErr_Format(PyExc_ValueError, "no ROW encoding for the column kind %c", kind);
        return 0;
    }
}

static PyObject *encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyBytes_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "encode(rows: list, kinds: bytes, others: tuple)");
        return NULL;
    }
    PyObject *rows = args[0], *others = args[2];
    const char *kinds = PyBytes_AS_STRING(args[1]);
    Py_ssize_t columns = PyBytes_GET_SIZE(args[1]);
    if (PyTuple_GET_SIZE(others) != columns) {
        PyErr_SetString(PyExc_ValueError, "encode: one entry of `others` per column");
        return NULL;
    }
    for (Py_ssize_t column = 0; column < columns; column++) {
        if (kinds[column] == KIND_OTHER && !PyCallable_Check(PyTuple_GET_ITEM(others, column))) {
            PyErr_SetString(PyExc_TypeError, "encode: a column of kind 'o' needs its encoder in `others`");
            return NULL;
        }
    }
    Out out = {NULL, 0, 0};
    if (!out_reserve(&out, 64 + PyList_GET_SIZE(rows) * (1 + columns * 8))) {
        return NULL;
    }
    /* the list may change size under a value-by-value encoder's call: its length is read each time */
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(rows); index++) {
        PyObject *row = PyList_GET_ITEM(rows, index);
        Py_INCREF(row);
        int ok = PyTuple_CheckExact(row) && PyTuple_GET_SIZE(row) == columns;
        if (!ok) {
            unusual();
        } else if (out_reserve(&out, 1)) {
            put_u8(&out, 0xD1);
            for (Py_ssize_t column = 0; ok && column < columns; column++) {
                ok = write_value(&out, kinds[column], PyTuple_GET_ITEM(row, column), PyTuple_GET_ITEM(others, column));
            }
        } else {
            ok = 0;
        }
        Py_DECREF(row);
        if (!ok) {
            PyMem_Free(out.data);
            return NULL;
        }
    }
    PyObject *written = PyBytes_FromStringAndSize(out.data, out.size);
    PyMem_Free(out.data);
    return written;
}

static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "encode(rows, kinds, others) -> bytes: a chunk of rows as ROW tokens (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static int exec_module(PyObject *module) {
    Unusual = PyErr_NewExceptionWithDoc("odata_emulator.tds._rows.Unusual",
                                        "A value the compiled encoder leaves to the value-by-value one.",
                                        PyExc_ValueError, NULL);
    if (Unusual == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Unusual", Unusual) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_rows", "ROW tokens written in C (the compiled counterpart of rows.py's generated encoder).",
    0, methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rows(void) { return PyModuleDef_Init(&definition); }
