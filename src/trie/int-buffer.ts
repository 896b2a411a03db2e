/** A growable Int32 array (amortised doubling) for building flat structures without JS arrays of numbers. */
export class IntBuffer {
  private data: Int32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Int32Array(Math.max(16, capacity));
  }

  push(value: number): void {
    if (this.length === this.data.length) this.grow(this.length + 1);
    this.data[this.length++] = value;
  }

  get(i: number): number {
    return this.data[i];
  }

  set(i: number, value: number): void {
    this.data[i] = value;
  }

  private grow(min: number): void {
    const next = new Int32Array(Math.max(min, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }

  /** A view of the filled part (shares memory until the next push). */
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }

  /** An exact-size copy (drops the spare capacity). */
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}
