/** Constants shared by every layer (wire format and conventions); the one place they are defined. */

/** Code reported when a name is not a KB name of the mention's group, and the gold code of unlinkable mentions. */
export const NO_CODE = "NO_CODE";

/** The separator token added to the tokenizer at fine-tuning time: prompt/answer boundary and composite answers. */
export const SEP_TOKEN = "<SEP>";
