//! MCP tokens on both backends: stored by hash with their tool list (or none), listed per
//! account oldest first, revoked by deleting only the named account's token, touched, and
//! deleted with their account.

use dialbridge_core::*;
use dialbridge_storage::Database;

use crate::support::{id, t};

conformance!(mcp_tokens_belong_to_one_account);

fn token(
    token_id: &str,
    account: &str,
    hash: &str,
    tools: Option<&[&str]>,
    at: i64,
) -> McpTokenRecord {
    McpTokenRecord {
        id: token_id.into(),
        account_id: id(account),
        name: Some(format!("name of {token_id}")),
        token_hash: hash.into(),
        tools: tools.map(|tools| tools.iter().map(|t| (*t).to_owned()).collect()),
        created_at: t(at),
        last_used_at: None,
    }
}

async fn mcp_tokens_belong_to_one_account(db: &Database) {
    for account in ["acme", "globex"] {
        db.upsert_account(&id(account), &AccountPatch::default(), 0, t(1))
            .await
            .unwrap();
    }
    let narrowed = token("m1", "acme", "h1", Some(&["list_users", "get_user"]), 20);
    let all = McpTokenRecord {
        name: None,
        ..token("m0", "acme", "h0", None, 10)
    };
    db.insert_mcp_token(&narrowed).await.unwrap();
    db.insert_mcp_token(&all).await.unwrap();
    db.insert_mcp_token(&token("m2", "globex", "h2", None, 5))
        .await
        .unwrap();
    assert!(
        db.insert_mcp_token(&token("m3", "globex", "h1", None, 30))
            .await
            .is_err(),
        "a hash is stored once"
    );

    assert_eq!(
        db.find_mcp_token("h1").await.unwrap(),
        Some(narrowed.clone())
    );
    assert_eq!(db.find_mcp_token("h0").await.unwrap(), Some(all.clone()));
    assert_eq!(db.find_mcp_token("nope").await.unwrap(), None);
    assert_eq!(
        db.list_mcp_tokens(&id("acme")).await.unwrap(),
        [all, narrowed]
    );

    db.touch_mcp_token("m1", t(50)).await.unwrap();
    let touched = db.find_mcp_token("h1").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(t(50)));

    assert!(
        !db.delete_mcp_token(&id("acme"), "m2").await.unwrap(),
        "globex's token, not acme's"
    );
    assert!(db.delete_mcp_token(&id("acme"), "m1").await.unwrap());
    assert!(!db.delete_mcp_token(&id("acme"), "m1").await.unwrap());
    assert_eq!(db.find_mcp_token("h1").await.unwrap(), None);

    assert!(db.delete_account(&id("acme")).await.unwrap());
    assert_eq!(
        db.find_mcp_token("h0").await.unwrap(),
        None,
        "deleted with the account"
    );
    assert!(db.find_mcp_token("h2").await.unwrap().is_some());
}
