"""The API's other dialects, each translated onto the chat-completions path: Anthropic's Messages
API (anthropic_in), OpenAI's Responses API (responses); the model list (models) and CORS (cors)."""
