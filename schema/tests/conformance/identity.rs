//! Cases for people, workspaces, keys, accounts, tokens, data keys, media and sessions.

use jiff::SignedDuration;
use schema::{SCHEMA_VERSION, WorkspaceScope};
use tenants::{Provider, Role, UserId};
use uuid::Uuid;

use super::fixtures::*;
use super::{DynStore, walk};

pub async fn test_meta_reports_current_schema(store: DynStore) {
    store.ping().await.expect("ping");
    assert_eq!(
        store.schema_version().await.expect("version"),
        SCHEMA_VERSION
    );
}

pub async fn test_users_crud_and_subject_lookup(store: DynStore) {
    let subject = Uuid::new_v4().to_string();
    let mut u = user(&subject);
    store.put_user(&u).await.expect("put");
    assert_eq!(store.get_user(u.id).await.expect("get"), Some(u.clone()));
    let found = store
        .find_user_by_subject(Provider::Google, &subject)
        .await
        .expect("find");
    assert_eq!(found, Some(u.clone()));
    assert_eq!(
        store
            .find_user_by_subject(Provider::X, &subject)
            .await
            .expect("find x"),
        None
    );

    u.name = "Renamed".into();
    u.subject = format!("{subject}-2");
    store.put_user(&u).await.expect("update");
    assert_eq!(
        store.get_user(u.id).await.expect("get").map(|u| u.name),
        Some("Renamed".into())
    );
    assert_eq!(
        store
            .find_user_by_subject(Provider::Google, &subject)
            .await
            .expect("old"),
        None
    );
    assert_eq!(
        store
            .find_user_by_subject(Provider::Google, &u.subject)
            .await
            .expect("new"),
        Some(u.clone())
    );
    assert_eq!(store.get_user(UserId::new()).await.expect("missing"), None);
}

pub async fn test_users_listing_pages_through_everyone(store: DynStore) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let u = user(&format!("list-{i}-{}", Uuid::new_v4()));
        store.put_user(&u).await.expect("put");
        ids.push(u.id);
    }
    let all = walk(3, |p| store.list_users(p)).await;
    let listed: Vec<UserId> = all.iter().map(|u| u.id).collect();
    for id in &ids {
        assert_eq!(
            listed.iter().filter(|x| *x == id).count(),
            1,
            "user {id} listed once"
        );
    }
}

pub async fn test_workspaces_and_memberships_crud(store: DynStore) {
    let owner = user(&Uuid::new_v4().to_string());
    let mut ws = workspace("Acme");
    let scope = WorkspaceScope::authorized(ws.id);
    store
        .create_workspace(&ws, &membership(ws.id, owner.id, Role::Owner))
        .await
        .expect("create");
    assert_eq!(
        store.get_workspace(scope).await.expect("get"),
        Some(ws.clone())
    );

    ws.name = "Acme Agency".into();
    store.update_workspace(scope, &ws).await.expect("update");
    assert_eq!(
        store
            .get_workspace(scope)
            .await
            .expect("get")
            .map(|w| w.name),
        Some("Acme Agency".into())
    );
    let all = walk(2, |p| store.list_all_workspaces(p)).await;
    assert_eq!(
        all.iter().filter(|w| w.id == ws.id).collect::<Vec<_>>(),
        vec![&ws]
    );

    let editor = UserId::new();
    store
        .put_membership(scope, &membership(ws.id, editor, Role::Editor))
        .await
        .expect("member");
    let m = store
        .get_membership(scope, editor)
        .await
        .expect("get member")
        .expect("exists");
    assert_eq!(m.role, Role::Editor);
    let members = walk(1, |p| store.list_members(scope, p)).await;
    let mut member_ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
    member_ids.sort();
    let mut expected = vec![owner.id, editor];
    expected.sort();
    assert_eq!(member_ids, expected);
    let of_user = store
        .list_memberships_of_user(editor)
        .await
        .expect("of user");
    assert_eq!(
        of_user.iter().map(|m| m.workspace_id).collect::<Vec<_>>(),
        vec![ws.id]
    );

    store
        .delete_membership(scope, editor)
        .await
        .expect("delete");
    assert_eq!(
        store.get_membership(scope, editor).await.expect("gone"),
        None
    );
    assert!(
        store
            .list_memberships_of_user(editor)
            .await
            .expect("of user")
            .is_empty()
    );
}

pub async fn test_api_keys_crud_touch_count(store: DynStore) {
    let owner = UserId::new();
    let before = store.count_api_keys().await.expect("count");
    let k1 = api_key(Some(owner), &format!("{:064x}", Uuid::new_v4().as_u128()));
    let k2 = api_key(None, &format!("{:064x}", Uuid::new_v4().as_u128()));
    store.put_api_key(&k1).await.expect("put");
    store.put_api_key(&k2).await.expect("put");
    assert_eq!(store.count_api_keys().await.expect("count"), before + 2);
    assert_eq!(
        store
            .get_api_key_by_hash(&k1.key_hash)
            .await
            .expect("by hash"),
        Some(k1.clone())
    );
    assert_eq!(
        store.get_api_key(k2.id).await.expect("by id"),
        Some(k2.clone())
    );
    assert_eq!(
        store.list_api_keys(Some(owner)).await.expect("list"),
        vec![k1.clone()]
    );
    assert!(
        store
            .list_api_keys(None)
            .await
            .expect("instance keys")
            .contains(&k2)
    );

    let used = now();
    store.touch_api_key(k1.id, used).await.expect("touch");
    let by_hash = store
        .get_api_key_by_hash(&k1.key_hash)
        .await
        .expect("by hash")
        .expect("exists");
    assert_eq!(by_hash.last_used_at, Some(used));
    assert_eq!(
        store
            .get_api_key(k1.id)
            .await
            .expect("by id")
            .and_then(|k| k.last_used_at),
        Some(used)
    );

    store.delete_api_key(k1.id).await.expect("delete");
    assert_eq!(
        store
            .get_api_key_by_hash(&k1.key_hash)
            .await
            .expect("by hash"),
        None
    );
    assert_eq!(store.get_api_key(k1.id).await.expect("by id"), None);
    assert!(
        store
            .list_api_keys(Some(owner))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.count_api_keys().await.expect("count"), before + 1);
}

pub async fn test_accounts_tokens_data_keys_media_crud(store: DynStore) {
    let ws = workspace("Accounts");
    let scope = WorkspaceScope::authorized(ws.id);
    let mut accounts = Vec::new();
    for i in 0..5 {
        let a = account(ws.id, &format!("acct{i}"));
        store.put_account(scope, &a).await.expect("put account");
        accounts.push(a);
    }
    let a0 = scope.account(accounts[0].id);
    assert_eq!(
        store.get_account(a0).await.expect("get"),
        Some(accounts[0].clone())
    );
    let listed = walk(2, |p| store.list_accounts(scope, p)).await;
    accounts.sort_by_key(|a| a.id);
    assert_eq!(listed, accounts, "accounts listed once each, by id");

    assert_eq!(store.get_tokens(a0).await.expect("none yet"), None);
    store.put_tokens(a0, &tokens(1)).await.expect("put tokens");
    store
        .put_tokens(a0, &tokens(2))
        .await
        .expect("replace tokens");
    assert_eq!(store.get_tokens(a0).await.expect("get"), Some(tokens(2)));
    store.delete_tokens(a0).await.expect("delete tokens");
    assert_eq!(store.get_tokens(a0).await.expect("gone"), None);

    let dk = data_key(ws.id);
    store.put_data_key(scope, &dk).await.expect("put key");
    assert_eq!(
        store.get_data_key(scope).await.expect("get key"),
        Some(dk.clone())
    );
    let keys = walk(5, |p| store.list_data_keys(p)).await;
    assert_eq!(keys.iter().filter(|k| k.workspace_id == ws.id).count(), 1);
    store.delete_data_key(scope).await.expect("shred");
    assert_eq!(store.get_data_key(scope).await.expect("gone"), None);
    let keys = walk(5, |p| store.list_data_keys(p)).await;
    assert!(keys.iter().all(|k| k.workspace_id != ws.id));

    let m1 = media(ws.id);
    let m2 = media(ws.id);
    store.put_media(scope, &m1).await.expect("put media");
    store.put_media(scope, &m2).await.expect("put media");
    assert_eq!(
        store.get_media(scope, m1.id).await.expect("get media"),
        Some(m1.clone())
    );
    let listed = walk(1, |p| store.list_media(scope, p)).await;
    assert_eq!(listed, vec![m1.clone(), m2.clone()]);
    store
        .delete_media(scope, m1.id)
        .await
        .expect("delete media");
    assert_eq!(walk(10, |p| store.list_media(scope, p)).await, vec![m2]);
}

pub async fn test_sessions_expire_and_delete(store: DynStore) {
    let t = now();
    let user_id = UserId::new();
    let s1 = session(user_id, &format!("s1-{}", Uuid::new_v4()), at(t, 60));
    let s2 = session(user_id, &format!("s2-{}", Uuid::new_v4()), at(t, 60));
    let other = session(UserId::new(), &format!("o-{}", Uuid::new_v4()), at(t, 60));
    for s in [&s1, &s2, &other] {
        store.put_session(s).await.expect("put session");
    }
    assert_eq!(
        store.get_session(&s1.id_hash, t).await.expect("get"),
        Some(s1.clone())
    );
    let later = t + SignedDuration::from_hours(2);
    assert_eq!(
        store
            .get_session(&s1.id_hash, later)
            .await
            .expect("expired"),
        None
    );

    store.delete_session(&s1.id_hash).await.expect("logout");
    assert_eq!(store.get_session(&s1.id_hash, t).await.expect("gone"), None);
    store.delete_sessions_of_user(user_id).await.expect("erase");
    assert_eq!(store.get_session(&s2.id_hash, t).await.expect("gone"), None);
    assert_eq!(
        store.get_session(&other.id_hash, t).await.expect("kept"),
        Some(other)
    );
}
