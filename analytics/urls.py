from django.urls import path

from analytics.views import exports, money, overview, reports

app_name = "analytics"

urlpatterns = [
    path("dashboard/", overview.DashboardView.as_view(), name="dashboard"),
    path("user-growth/", overview.UserGrowthView.as_view(), name="user-growth"),
    path("consultations/", overview.ConsultationStatsView.as_view(), name="consultations"),
    path("revenue/", money.RevenueView.as_view(), name="revenue"),
    path("geography/", money.GeographyView.as_view(), name="geography"),
    path("doctors/performance/", money.DoctorPerformanceView.as_view(), name="doctor-performance"),
    # Custom reports and raw exports (analytics/views/reports.py, analytics/views/exports.py).
    path("reports/", reports.ReportListView.as_view(), name="reports"),
    path("reports/metrics/", reports.ReportMetricsView.as_view(), name="report-metrics"),
    path("reports/<uuid:pk>/", reports.ReportDetailView.as_view(), name="report"),
    path("reports/<uuid:pk>/run/", reports.ReportRunView.as_view(), name="report-run"),
    path("reports/<uuid:pk>/runs/", reports.ReportRunsView.as_view(), name="report-runs"),
    path("report-runs/<uuid:pk>/", reports.ReportRunDetailView.as_view(), name="report-run-detail"),
    path(
        "report-runs/<uuid:pk>/download/", reports.ReportRunDownloadView.as_view(), name="report-run-download"
    ),
    path("export/consultations/", exports.ConsultationsExportView.as_view(), name="export-consultations"),
    path("export/payments/", exports.PaymentsExportView.as_view(), name="export-payments"),
    path("export/users/", exports.UsersExportView.as_view(), name="export-users"),
]
