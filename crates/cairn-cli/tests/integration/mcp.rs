//! `cairn mcp` with the official Python MCP SDK as the client (skips when it is missing).

use std::process::Command;

#[test]
fn the_official_mcp_client_lists_and_calls_cairns_tools() {
    if !Command::new("python3").args(["-c", "import mcp"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: the Python MCP SDK is not installed (pip install mcp)");
        return;
    }
    let kb = tempfile::tempdir().unwrap();
    let script = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

def err(r):
    return r.is_error if hasattr(r, "is_error") else r.isError

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["--kb", sys.argv[2], "mcp", "--demo"])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = await s.list_tools()
            print("TOOLS", ",".join(sorted(t.name for t in tools.tools)))
            a = await s.call_tool("ask", {"question": "Can simvastatin be taken with clarithromycin?"})
            cite = json.loads(a.content[0].text)["claims"][0]["citations"][0]
            print("ASK", err(a), cite["verified"], cite["display"])
            n = await s.call_tool("show_node", {"id": cite["display"]})
            print("SHOW", err(n), cite["quote"] in n.content[0].text)
            g = await s.call_tool("graph_query", {"query": "MATCH (d:Drug {name: $n}) RETURN d.name AS name", "params": {"n": "simvastatin"}})
            print("GRAPH", err(g), json.loads(g.content[0].text)["rows"])
            d = await s.call_tool("drug_check", {"drugs": ["simvastatin", "clarithromycin"]})
            print("DRUG", err(d), "CYP3A4" in d.content[0].text)
            bad = await s.call_tool("drug_check", {"drugs": ["simvastatin"]})
            print("BAD", err(bad))

asyncio.run(main())
"#;
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_cairn")])
        .arg(kb.path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("TOOLS ask,drug_check,graph_query,navigate,search,show_node"), "{stdout}");
    assert!(stdout.contains("ASK False True pharm:"), "{stdout}");
    assert!(stdout.contains("SHOW False True"), "{stdout}");
    assert!(stdout.contains("GRAPH False [{'name': 'simvastatin'}]"), "{stdout}");
    assert!(stdout.contains("DRUG False True"), "{stdout}");
    assert!(stdout.contains("BAD True"), "{stdout}");
}

#[test]
fn the_open_demo_server_refuses_to_bind_beyond_loopback() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_cairn")).args(["serve", "--demo", "--addr", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{}", String::from_utf8_lossy(&out.stderr));
}
