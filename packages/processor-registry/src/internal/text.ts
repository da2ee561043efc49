import * as CoreText from "@lawful/core/Text"

/**
 * @internal Free text that may name a person (a legal name, a reason, notes, an objection):
 * trimmed storable text of 1 to `maxLength` characters (`@lawful/core/Text`'s `trimmed`) whose
 * refusal says what is expected, never echoing the text, which `InvalidInput` would otherwise
 * carry to callers and their logs.
 */
export const personalText = (maxLength: number) =>
  CoreText.trimmed(maxLength).annotations({
    message: () => ({
      message: `1 to ${maxLength} characters of text, without NUL characters or unpaired surrogates`,
      override: true
    })
  })
