// exp and log that give the same bits in every JavaScript engine.
//
// Math.exp and Math.log are only required to be close to the true value: engines differ in the
// last bit. Measured here: Chromium 156's V8 and Node 20's V8 (11.3) disagree by 1 ulp on 3-10% of
// arguments. The MultiBox loss (ssd/loss.ts) sums its float64 log-softmax terms with them, so the
// page and Node reported losses a bit or two apart. These two functions use only +, -, *, / and
// exact bit manipulation, in a fixed order, which IEEE 754 makes the same everywhere. They are
// within about 1 ulp of the true value (tested against Math.exp and Math.log).

/** ln 2 split so that k * LN2_HI is exact for |k| < 2^11: its low bits are zero. */
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700;

/** 1 / n! for n = 0..13, computed once by division (IEEE: the same bits everywhere). */
const INV_FACTORIAL: number[] = [1];
for (let n = 1; n <= 13; n++) INV_FACTORIAL.push(INV_FACTORIAL[n - 1] / n);

/** One float64 and its two 32-bit words; HIGH is the word with the sign and exponent (1 on little-endian hosts). */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
f64[0] = 1;
const HIGH = u32[1] === 0x3ff00000 ? 1 : 0;
const LOW = 1 - HIGH;

/** 2^k for an integer k in [-1022, 1023], built from its bits. */
function pow2(k: number): number {
  u32[HIGH] = (k + 1023) << 20;
  u32[LOW] = 0;
  return f64[0];
}

/**
 * e^x: x = k ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to r^13 (the next term is
 * below 1e-17 of the sum), then times 2^k.
 */
export function exactExp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  const k = Math.round(x * INV_LN2);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = INV_FACTORIAL[13];
  for (let n = 12; n >= 0; n--) p = p * r + INV_FACTORIAL[n];
  // 2^k in two factors where k leaves the normal range (the result is then huge or subnormal)
  if (k > 1023) return p * pow2(1023) * pow2(k - 1023);
  if (k < -1022) return p * pow2(-1022) * pow2(k + 1022);
  return p * pow2(k);
}

/** 1 / (2n + 1) for n = 0..15, for log's series. */
const INV_ODD: number[] = Array.from({ length: 16 }, (_, n) => 1 / (2 * n + 1));

/**
 * ln x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then ln m = 2 atanh(s) with s = (m - 1) / (m + 1),
 * |s| <= 0.172, by its series to s^31 (the next term is below 1e-25), plus e ln 2.
 */
export function exactLog(x: number): number {
  if (Number.isNaN(x) || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54: a subnormal made normal
    e = -54;
  }
  f64[0] = x;
  const high = u32[HIGH];
  e += ((high >>> 20) & 0x7ff) - 1023;
  u32[HIGH] = (high & 0x000fffff) | (1023 << 20); // the same mantissa, exponent 0: m in [1, 2)
  let m = f64[0];
  if (m > Math.SQRT2) {
    m /= 2; // exact
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  let q = INV_ODD[15];
  for (let n = 14; n >= 0; n--) q = q * s2 + INV_ODD[n];
  return e * LN2_HI + (e * LN2_LO + 2 * s * q);
}
