//! How fast streamed answers are read: bytes in, one assembled turn out,
//! through the SSE parser and the provider's decoder.
//!
//! `cargo bench -p meshls-agent --bench stream`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::executor::block_on;
use meshls_agent::{
    anthropic, openai,
    stream::{read_turn, Decoder},
};

/// A long text answer: `chunks` chunks of a few words each, as OpenAI
/// streams them.
fn openai_text(chunks: usize) -> String {
    let mut wire = String::new();
    for i in 0..chunks {
        wire.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word {i} é \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    wire.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    wire
}

/// One tool call whose arguments (a whole file to write) come in one
/// large event: the case a parser that rescans its buffer gets wrong.
fn anthropic_big_tool_call(bytes: usize) -> String {
    let content = "x".repeat(bytes);
    format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"write_file\",\"input\":{{}}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\\\"content\\\": \\\"{content}\\\"}}\"}}}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"tool_use\"}},\"usage\":{{\"output_tokens\":9}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    )
}

/// Reads `wire` as it would arrive from the network, in 1 KiB pieces.
fn read<D: Decoder>(wire: &[u8], decoder: D) -> usize {
    let pieces = wire.chunks(1024).map(Ok::<_, std::io::Error>);
    let turn = block_on(read_turn(futures::stream::iter(pieces), decoder, |_| {}));
    let turn = turn.expect("the bench's stream is whole");
    turn.text.len() + turn.tool_calls.len()
}

fn streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_turn");
    let text = openai_text(2000);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("openai_text", "2000 chunks"),
        &text,
        |b, wire| b.iter(|| read(wire.as_bytes(), openai::ChunkDecoder::default())),
    );
    let big = anthropic_big_tool_call(1 << 20);
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("anthropic_tool_call", "1 MiB"),
        &big,
        |b, wire| b.iter(|| read(wire.as_bytes(), anthropic::EventDecoder::default())),
    );
    group.finish();
}

criterion_group!(benches, streams);
criterion_main!(benches);
