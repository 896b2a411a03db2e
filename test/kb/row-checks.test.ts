import { describe, expect, it } from "vitest";
import { termRowProblem, trimTerm } from "../../src/kb/row-checks.js";

describe("trimTerm", () => {
  it("trims spaces, tabs, LF and NBSP around a term like String.trim", () => {
    for (const s of ["  fiebre ", "\tfiebre\n", "\u00a0fiebre\u3000", "fiebre", "", "   ", "dolor  torácico"]) expect(trimTerm(s)).toBe(s.trim());
  });

  it("keeps a CR at either edge (with the spaces inside it), so the row checks still see it", () => {
    expect(trimTerm(" Pyrexia\r ")).toBe("Pyrexia\r");
    expect(trimTerm("\t \rheadache")).toBe("\rheadache");
    expect(trimTerm(" \r \r ")).toBe("\r \r");
    for (const s of ["Pyrexia\r", "\rheadache", "heart\rattack"]) expect(termRowProblem(trimTerm(` ${s} `), "G")?.reason).toMatch(/control character/);
  });
});
