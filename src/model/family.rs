//! The native InvokeModel body families. Which family a model speaks is a
//! column of the capability table (`native`), not a guess from its name.

/// A family of models sharing one native InvokeModel body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Amazon Titan Text.
    Titan,
    /// Anthropic Claude, through the Messages API.
    Anthropic,
    /// Meta Llama 3.x (the Llama 3 chat template).
    Llama,
    /// Mistral's text-completion models (7B, Mixtral 8x7B, Large and Small 24.02).
    Mistral,
}

impl Family {
    /// Every family, in the order error messages list them.
    pub const ALL: [Family; 4] = [
        Family::Titan,
        Family::Anthropic,
        Family::Llama,
        Family::Mistral,
    ];

    /// The family's name as a user knows it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Titan => "Amazon Titan Text",
            Family::Anthropic => "Anthropic Claude",
            Family::Llama => "Meta Llama 3",
            Family::Mistral => "Mistral (7B, Mixtral 8x7B, Large/Small 24.02)",
        }
    }
}
