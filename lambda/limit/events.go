package limit

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redisgate/redisgate/ratelimit"
)

// Handler is a Lambda handler of events of type Req answering Res.
type Handler[Req, Res any] = func(context.Context, Req) (Res, error)

// APIGatewayProxy wraps h, a handler of API Gateway REST API (v1) proxy events, so that it runs
// only within g's limits; other requests get 429 (or 503) with a JSON error. Every answer
// carries the rate-limit headers.
func APIGatewayProxy(g *Guard, h Handler[events.APIGatewayProxyRequest, events.APIGatewayProxyResponse]) Handler[events.APIGatewayProxyRequest, events.APIGatewayProxyResponse] {
	return func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		v := g.Check(ctx, RequestFromAPIGatewayProxy(&e))
		if !v.Allowed {
			return events.APIGatewayProxyResponse{StatusCode: v.Status, Headers: setHeaders(nil, v.Headers), Body: v.Body}, nil
		}
		res, err := h(ctx, e)
		if err == nil {
			res.Headers = setHeaders(res.Headers, v.Headers)
		}
		return res, err
	}
}

// APIGatewayV2HTTP wraps h, a handler of API Gateway HTTP API (payload 2.0) events, as APIGatewayProxy does.
// Function URL events have the same shape, so such a handler also serves a Function URL.
func APIGatewayV2HTTP(g *Guard, h Handler[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse]) Handler[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse] {
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		v := g.Check(ctx, RequestFromAPIGatewayV2HTTP(&e))
		if !v.Allowed {
			return events.APIGatewayV2HTTPResponse{StatusCode: v.Status, Headers: setHeaders(nil, v.Headers), Body: v.Body}, nil
		}
		res, err := h(ctx, e)
		if err == nil {
			res.Headers = setHeaders(res.Headers, v.Headers)
		}
		return res, err
	}
}

// FunctionURL wraps h, a handler of Lambda Function URL events, as APIGatewayProxy does.
func FunctionURL(g *Guard, h Handler[events.LambdaFunctionURLRequest, events.LambdaFunctionURLResponse]) Handler[events.LambdaFunctionURLRequest, events.LambdaFunctionURLResponse] {
	return func(ctx context.Context, e events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		v := g.Check(ctx, RequestFromFunctionURL(&e))
		if !v.Allowed {
			return events.LambdaFunctionURLResponse{StatusCode: v.Status, Headers: setHeaders(nil, v.Headers), Body: v.Body}, nil
		}
		res, err := h(ctx, e)
		if err == nil {
			res.Headers = setHeaders(res.Headers, v.Headers)
		}
		return res, err
	}
}

// ALB wraps h, a handler of Application Load Balancer target group events, as APIGatewayProxy
// does. When the target group sends multi-value headers, the answer's headers go in
// MultiValueHeaders, which the load balancer then reads instead of Headers.
func ALB(g *Guard, h Handler[events.ALBTargetGroupRequest, events.ALBTargetGroupResponse]) Handler[events.ALBTargetGroupRequest, events.ALBTargetGroupResponse] {
	return func(ctx context.Context, e events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		v := g.Check(ctx, RequestFromALB(&e))
		multi := e.MultiValueHeaders != nil
		if !v.Allowed {
			res := events.ALBTargetGroupResponse{StatusCode: v.Status, StatusDescription: strconv.Itoa(v.Status) + " " + http.StatusText(v.Status), Body: v.Body}
			if multi {
				res.MultiValueHeaders = setMultiHeaders(nil, v.Headers)
			} else {
				res.Headers = setHeaders(nil, v.Headers)
			}
			return res, nil
		}
		res, err := h(ctx, e)
		if err == nil {
			if multi {
				res.MultiValueHeaders = setMultiHeaders(res.MultiValueHeaders, v.Headers)
			} else {
				res.Headers = setHeaders(res.Headers, v.Headers)
			}
		}
		return res, err
	}
}

// RequestFromAPIGatewayProxy describes a REST API (v1) event. Peer: requestContext.identity.sourceIp.
// User: the Lambda authorizer's principalId, else a Cognito user pool's sub claim, the Cognito
// identity id or the IAM user ARN.
func RequestFromAPIGatewayProxy(e *events.APIGatewayProxyRequest) *Request {
	rc := &e.RequestContext
	user := str(rc.Authorizer["principalId"])
	if claims, ok := rc.Authorizer["claims"].(map[string]any); ok && user == "" {
		user = str(claims["sub"])
	}
	user = first(user, rc.Identity.CognitoIdentityID, rc.Identity.UserArn)
	return &Request{Peer: addr(rc.Identity.SourceIP), User: user, Event: e, headers: e.Headers, multi: e.MultiValueHeaders}
}

// RequestFromAPIGatewayV2HTTP describes an HTTP API (payload 2.0) event. Peer:
// requestContext.http.sourceIp. User: the JWT authorizer's sub claim, else the IAM user ARN or
// Cognito identity, or the Lambda authorizer context's principalId or sub.
func RequestFromAPIGatewayV2HTTP(e *events.APIGatewayV2HTTPRequest) *Request {
	var user string
	if a := e.RequestContext.Authorizer; a != nil {
		if a.JWT != nil {
			user = a.JWT.Claims["sub"]
		}
		if a.IAM != nil {
			user = first(user, a.IAM.UserARN, a.IAM.CognitoIdentity.IdentityID)
		}
		user = first(user, str(a.Lambda["principalId"]), str(a.Lambda["sub"]))
	}
	return &Request{Peer: addr(e.RequestContext.HTTP.SourceIP), User: user, Event: e, headers: e.Headers}
}

// RequestFromFunctionURL describes a Function URL event. Peer: requestContext.http.sourceIp.
// User: the IAM user ARN (AuthType AWS_IAM).
func RequestFromFunctionURL(e *events.LambdaFunctionURLRequest) *Request {
	var user string
	if a := e.RequestContext.Authorizer; a != nil && a.IAM != nil {
		user = a.IAM.UserARN
	}
	return &Request{Peer: addr(e.RequestContext.HTTP.SourceIP), User: user, Event: e, headers: e.Headers}
}

// RequestFromALB describes an ALB target group event, from headers or multiValueHeaders.
// Peer: the last X-Forwarded-For entry, which the load balancer appends (its default "append"
// mode; earlier entries come from the client and are not believed unless Options.Proxies
// trusts the hops after them). User: x-amzn-oidc-identity, which the load balancer sets when
// the listener rule authenticates users (without such a rule a client can send it: do not
// limit per user then).
func RequestFromALB(e *events.ALBTargetGroupRequest) *Request {
	r := &Request{Event: e, headers: e.Headers, multi: e.MultiValueHeaders}
	xff := r.Header("X-Forwarded-For")
	r.Peer = addr(xff[strings.LastIndexByte(xff, ',')+1:])
	r.User = r.Header("X-Amzn-Oidc-Identity")
	return r
}

// setHeaders sets hs in m, allocating it when nil.
func setHeaders(m map[string]string, hs []ratelimit.Header) map[string]string {
	if m == nil {
		m = make(map[string]string, len(hs))
	}
	for _, h := range hs {
		m[h.Key] = h.Value
	}
	return m
}

// setMultiHeaders sets hs in a multi-value header map, allocating it when nil.
func setMultiHeaders(m map[string][]string, hs []ratelimit.Header) map[string][]string {
	if m == nil {
		m = make(map[string][]string, len(hs))
	}
	for _, h := range hs {
		m[h.Key] = []string{h.Value}
	}
	return m
}

// addr parses an IP address, invalid when s is not one.
func addr(s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// first returns the first non-empty string.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
