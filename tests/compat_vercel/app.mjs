// A Vercel AI SDK app for costper's compatibility suite. It calls the fake
// OpenAI-compatible upstream (FAKE_URL) with telemetry on, and exports every
// span twice: one export per span to LIVE_URL (a real `costper serve`), and
// batched to CAPTURE_URL (the test writes those bodies to a file for
// `costper ingest traces`).
import { createOpenAI } from "@ai-sdk/openai";
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { embed, generateText } from "ai";

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "vercel-app" }),
  spanProcessors: [
    new SimpleSpanProcessor(new OTLPTraceExporter({ url: process.env.LIVE_URL })),
    new BatchSpanProcessor(new OTLPTraceExporter({ url: process.env.CAPTURE_URL })),
  ],
});
provider.register();
const tracer = trace.getTracer("ai");
const openai = createOpenAI({ baseURL: process.env.FAKE_URL, apiKey: "sk-fake" });
const PROMPT = process.env.PROMPT;

function telemetry(functionId, sessionId, userId) {
  const metadata = { sessionId };
  if (userId) metadata.userId = userId;
  return { isEnabled: true, functionId, metadata, tracer };
}

async function ask(script, t) {
  await generateText({
    model: openai.chat("gpt-4o-mini"),
    prompt: `${PROMPT} SCRIPT:${script}`,
    maxRetries: 0,
    experimental_telemetry: t,
  });
}

await ask("a1", telemetry("support", "s-1", "acme"));
await ask("a1", telemetry("support", "s-1", "acme"));
try {
  await ask("limited", telemetry("support", "s-1", "acme"));
} catch (e) {
  // the rate-limited call: a failed call with no usage
}
await ask("b1", telemetry("billing", "s-2"));
await embed({
  model: openai.embedding("text-embedding-3-small"),
  value: `${PROMPT} SCRIPT:e1`,
  maxRetries: 0,
  experimental_telemetry: telemetry("billing", "s-2"),
});
await provider.forceFlush();
await provider.shutdown();
