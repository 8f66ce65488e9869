/* Argument conversion and result helpers shared by all files. */
#include "common.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <math.h>

static int type_error(napi_env env, const char *what, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "layerfs native: argument '%s' must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return -1;
}

static int get_number(napi_env env, napi_value v, const char *what, double *d) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return type_error(env, what, "a number");
  napi_get_value_double(env, v, d);
  if (!isfinite(*d) || *d != floor(*d)) return type_error(env, what, "an integer");
  return 0;
}

int lfs_arg_i32(napi_env env, napi_value v, const char *what, int32_t *out) {
  double d;
  if (get_number(env, v, what, &d)) return -1;
  if (d < -2147483648.0 || d > 4294967295.0) return type_error(env, what, "a 32-bit integer");
  /* accept unsigned 32-bit values too (e.g. flag masks), wrap to int32 */
  *out = (int32_t)(uint32_t)(int64_t)d;
  return 0;
}

int lfs_arg_i32_opt(napi_env env, napi_value v, const char *what, int32_t dflt, int32_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) { *out = dflt; return 0; }
  return lfs_arg_i32(env, v, what, out);
}

int lfs_arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  double d;
  if (get_number(env, v, what, &d)) return -1;
  if (d < -2147483648.0 || d > 4294967295.0) return type_error(env, what, "a 32-bit integer");
  *out = (uint32_t)(int64_t)d;
  return 0;
}

int lfs_arg_i64(napi_env env, napi_value v, const char *what, int64_t *out) {
  double d;
  if (get_number(env, v, what, &d)) return -1;
  if (d < -9007199254740992.0 || d > 9007199254740992.0) return type_error(env, what, "a safe integer");
  *out = (int64_t)d;
  return 0;
}

int lfs_arg_i64_nullable(napi_env env, napi_value v, const char *what, int64_t *out, int *present) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) { *present = 0; *out = 0; return 0; }
  *present = 1;
  return lfs_arg_i64(env, v, what, out);
}

int lfs_arg_u64(napi_env env, napi_value v, const char *what, uint64_t *out) {
  double d;
  if (get_number(env, v, what, &d)) return -1;
  if (d < 0 || d > 18446744073709551615.0) return type_error(env, what, "a non-negative integer");
  *out = (uint64_t)d;
  return 0;
}

int lfs_arg_str(napi_env env, napi_value v, const char *what, char *stackbuf, size_t bufsz, lfs_str *out) {
  napi_valuetype t;
  size_t len = 0;
  out->s = NULL; out->len = 0; out->heap = 0; out->has_nul = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return type_error(env, what, "a string");
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return type_error(env, what, "a string");
  char *buf = stackbuf;
  if (len + 1 > bufsz) {
    buf = malloc(len + 1);
    if (!buf) { napi_throw_error(env, "ENOMEM", "layerfs native: out of memory"); return -1; }
    out->heap = 1;
  }
  size_t got = 0;
  napi_get_value_string_utf8(env, v, buf, len + 1, &got);
  buf[got] = 0;
  out->s = buf;
  out->len = got;
  out->has_nul = strlen(buf) != got;
  return 0;
}

void lfs_str_free(lfs_str *s) {
  if (s->heap) free(s->s);
  s->s = NULL; s->heap = 0;
}

int lfs_arg_buf(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool is;
  napi_is_buffer(env, v, &is);
  if (is) {
    napi_get_buffer_info(env, v, data, len);
    return 0;
  }
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type tt; size_t n; napi_value ab; size_t off;
    napi_get_typedarray_info(env, v, &tt, &n, data, &ab, &off);
    size_t esz = 1;
    switch (tt) {
      case napi_int16_array: case napi_uint16_array: esz = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: esz = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: esz = 8; break;
      default: esz = 1;
    }
    *len = n * esz;
    return 0;
  }
  return type_error(env, what, "a Buffer or TypedArray");
}

int lfs_arg_f64arr(napi_env env, napi_value v, const char *what, size_t min_len, double **data) {
  bool is;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type tt; size_t n; napi_value ab; size_t off; void *p;
    napi_get_typedarray_info(env, v, &tt, &n, &p, &ab, &off);
    if (tt == napi_float64_array && n >= min_len) { *data = p; return 0; }
  }
  return type_error(env, what, "a Float64Array of sufficient length");
}

napi_value lfs_num(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}

napi_value lfs_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

napi_value lfs_errno(napi_env env) {
  return lfs_int(env, -(int64_t)errno);
}

napi_value lfs_undef(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

napi_value lfs_null(napi_env env) {
  napi_value r;
  napi_get_null(env, &r);
  return r;
}

void lfs_export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

void lfs_set_i64(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_set_named_property(env, obj, name, lfs_int(env, v));
}
