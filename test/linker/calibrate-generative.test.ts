/**
 * `syncabel calibrate` for the generative linker with a real (tiny, random) model in ONNX Runtime: the held-back
 * slice is linked by constrained beam search, the calibration is stored beside the model, and Linker.open applies it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { calibrationFileOf } from "../../src/linker/calibrated-linker.js";
import { calibrateLinker } from "../../src/linker/calibrate.js";
import { Calibrator } from "../../src/linker/calibration.js";
import { openLinker } from "../../src/linker/open.js";
import { KB_ROWS, variantDocuments, writeSpaccc } from "../support/hybrid-fixture.js";
import { buildKbFromRows } from "../support/kb.js";
import { makeTinyModel } from "../support/tiny-model.js";

describe("calibrating the generative linker", () => {
  let work: string;
  let model: { dir: string; cleanup: () => void };
  let kbPath: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "syncabel-calibrate-gen-"));
    model = await makeTinyModel({ seed: 21 });
    kbPath = await buildKbFromRows(work, KB_ROWS);
  });
  afterAll(() => {
    model.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("links a held-back slice, stores the calibration beside the model, and the opened linker applies it", async () => {
    mkdirSync(join(work, "train"));
    const train = writeSpaccc(join(work, "train"), variantDocuments(10, 3, "es-g"));
    const report = await calibrateLinker({ kb: kbPath, model: model.dir, linker: "generative", train: [{ path: train, format: "spaccc" }], slice: 0.8, beams: 2, threads: 1 });
    expect(report.linker).toBe("generative");
    expect(report.heldBackDocuments).toBeGreaterThan(0);
    expect(report.heldBackDocuments).toBeLessThan(10);
    const file = calibrationFileOf(model.dir, "generative");
    expect(report.storedIn).toBe(file);
    expect(existsSync(file)).toBe(true);
    const calibrator = Calibrator.fromJSON(JSON.parse(readFileSync(file, "utf8")), file);
    expect(calibrator.json.scoreKind).toBe("absolute");
    expect(calibrator.beams).toBe(2);

    const linker = await openLinker({ kb: kbPath, model: model.dir, threads: 1, minConfidence: 1 });
    try {
      const [r] = await linker.sample(["Refiere [dolor torácico]{SINTOMA} hoy."], { num_beams: 2 });
      expect(r!.error).toBeUndefined();
      // Two beams asked, two read by the calibration: the result's scores are the ones it was computed from.
      expect(r!.confidence).toBe(calibrator.confidence(r!.beams!.map((b) => b.beam_score)));
      expect(r!.abstained).toBe(true); // every confidence is below 1
      expect(r!.beams!.length).toBeLessThanOrEqual(2);
    } finally {
      await linker.close();
    }
  });
});
