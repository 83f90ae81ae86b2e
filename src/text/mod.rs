//! Text: sentence embeddings of item and customer descriptions (mkt.embed), from a pretrained
//! encoder the server reads from the folder `mkt.text_model` names.

mod api;
pub mod encoder;

pgrx::extension_sql_file!(
    "../../sql/text.sql",
    name = "text_functions",
    requires = [text::api::embed, text::api::embed_many]
);
