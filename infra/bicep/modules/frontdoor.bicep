// Azure Front Door (Standard) in front of the Function App: one endpoint, one origin (the app), one route for
// every path with caching OFF, and a rule set that turns caching on for `GET /predict` alone:
//   * cache behaviour HonorOrigin: the service's own Cache-Control decides (`public, max-age=60,
//     s-maxage=86400` on 200/304; `private, no-store` on keyed answers and `no-store` on everything else, which
//     Front Door never caches, even under a rules-engine override);
//   * cache key = path + the whole query string (UseQueryString; parameter order does not matter to it).
// Front Door ignores `Vary`, so with CORS origins configured the rules also manage Access-Control-Allow-Origin
// for cached answers: the origin's value (made for whichever caller filled the cache) is dropped and set again
// from the request's Origin when that origin is allowed (docs: frontdoor/cross-origin-resource-sharing).
param profileName string
param endpointName string
@description('Host name of the Function App (its default *.azurewebsites.net name).')
param originHostName string
@description('Comma-separated exact origins allowed to call the API from browsers (CORS_ALLOWED_ORIGINS).')
param corsAllowedOrigins string = ''
param tags object = {}

var corsOrigins = filter(map(split(corsAllowedOrigins, ','), o => trim(o)), o => !empty(o))
var exposedHeaders = 'Cache-Status, ETag, X-App-Identifier, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After'

// `GET /predict` (any query): the conditions of every rule below. Request path values have no leading slash.
var predictGet = [
  {
    name: 'UrlPath'
    parameters: {
      typeName: 'DeliveryRuleUrlPathMatchConditionParameters'
      operator: 'Equal'
      negateCondition: false
      matchValues: ['predict']
      transforms: ['Lowercase']
    }
  }
  {
    name: 'RequestMethod'
    parameters: {
      typeName: 'DeliveryRuleRequestMethodConditionParameters'
      operator: 'Equal'
      negateCondition: false
      matchValues: ['GET']
    }
  }
]

resource profile 'Microsoft.Cdn/profiles@2024-02-01' existing = {
  name: profileName
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: endpointName
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

// One origin: no health probes (Front Door's advice for a single origin: there is nothing to fail over to,
// and probes would keep Flex Consumption instances awake).
resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'function-app'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    sessionAffinityState: 'Disabled'
  }
}

resource origin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: originGroup
  name: 'function-app'
  properties: {
    hostName: originHostName
    // App Service routes by Host: it must be the app's own name.
    originHostHeader: originHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}

resource ruleSet 'Microsoft.Cdn/profiles/ruleSets@2024-02-01' = {
  parent: profile
  name: 'predictcache'
}

resource cachePredict 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = {
  parent: ruleSet
  name: 'cachePredictGet'
  properties: {
    order: 1
    matchProcessingBehavior: 'Continue'
    conditions: predictGet
    actions: [
      {
        name: 'RouteConfigurationOverride'
        parameters: {
          typeName: 'DeliveryRuleRouteConfigurationOverrideActionParameters'
          cacheConfiguration: {
            queryStringCachingBehavior: 'UseQueryString'
            cacheBehavior: 'HonorOrigin'
            // Answers are ~30 bytes; Front Door compresses only from 1 KB.
            isCompressionEnabled: 'Disabled'
          }
        }
      }
    ]
  }
}

// RateLimit-* describe the budget of the caller that filled the cache, and edge hits spend nobody's budget:
// they are dropped from GET /predict answers rather than shown to everyone else.
resource dropCallerHeaders 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = {
  parent: ruleSet
  name: 'dropCallerHeaders'
  dependsOn: [cachePredict]
  properties: {
    order: 2
    matchProcessingBehavior: 'Continue'
    conditions: predictGet
    actions: [
      for header in ['RateLimit-Policy', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']: {
        name: 'ModifyResponseHeader'
        parameters: {
          typeName: 'DeliveryRuleHeaderActionParameters'
          headerAction: 'Delete'
          headerName: header
        }
      }
    ]
  }
}

// A cached answer carries the Access-Control-Allow-Origin of whoever filled the cache: drop it ...
resource corsReset 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = if (!empty(corsOrigins)) {
  parent: ruleSet
  name: 'corsReset'
  dependsOn: [dropCallerHeaders]
  properties: {
    order: 3
    matchProcessingBehavior: 'Continue'
    conditions: predictGet
    actions: [
      {
        name: 'ModifyResponseHeader'
        parameters: {
          typeName: 'DeliveryRuleHeaderActionParameters'
          headerAction: 'Delete'
          headerName: 'Access-Control-Allow-Origin'
        }
      }
      {
        name: 'ModifyResponseHeader'
        parameters: {
          typeName: 'DeliveryRuleHeaderActionParameters'
          headerAction: 'Delete'
          headerName: 'Access-Control-Expose-Headers'
        }
      }
    ]
  }
}

// ... and set it again for this request's Origin when it is one of the allowed ones (one rule per origin).
@batchSize(1)
resource corsAllow 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = [
  for (allowed, i) in corsOrigins: {
    parent: ruleSet
    name: 'corsOrigin${i}'
    dependsOn: [corsReset]
    properties: {
      order: 4 + i
      matchProcessingBehavior: 'Continue'
      conditions: concat(predictGet, [
        {
          name: 'RequestHeader'
          parameters: {
            typeName: 'DeliveryRuleRequestHeaderConditionParameters'
            selector: 'Origin'
            operator: 'Equal'
            negateCondition: false
            matchValues: [allowed]
          }
        }
      ])
      actions: [
        {
          name: 'ModifyResponseHeader'
          parameters: {
            typeName: 'DeliveryRuleHeaderActionParameters'
            headerAction: 'Overwrite'
            headerName: 'Access-Control-Allow-Origin'
            value: allowed
          }
        }
        {
          name: 'ModifyResponseHeader'
          parameters: {
            typeName: 'DeliveryRuleHeaderActionParameters'
            headerAction: 'Overwrite'
            headerName: 'Access-Control-Expose-Headers'
            value: exposedHeaders
          }
        }
      ]
    }
  }
]

// Every path goes to the app; no caching here (a route without cacheConfiguration caches nothing), so only
// the rule above ever makes an answer cacheable.
resource route 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'all-paths'
  dependsOn: [origin, cachePredict, dropCallerHeaders, corsReset, corsAllow]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    ruleSets: [
      {
        id: ruleSet.id
      }
    ]
    supportedProtocols: ['Http', 'Https']
    patternsToMatch: ['/*']
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    httpsRedirect: 'Enabled'
    enabledState: 'Enabled'
  }
}

output endpointHostName string = endpoint.properties.hostName
output endpointName string = endpoint.name
